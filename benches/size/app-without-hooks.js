// The same app without resocket/react: the difference is what the hook entry adds.
import * as resocket from "resocket";
import * as React from "react";
import * as ReactDOM from "react-dom/client";

console.log(resocket, React, ReactDOM);
