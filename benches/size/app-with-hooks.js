// An app importing React, ReactDOM, resocket and every hook of resocket/react (kept whole).
import * as hooks from "resocket/react";
import * as resocket from "resocket";
import * as React from "react";
import * as ReactDOM from "react-dom/client";

console.log(hooks, resocket, React, ReactDOM);
