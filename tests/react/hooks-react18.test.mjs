// The same hook tests with React 18 (the harness build under /hooks18/).
import { hookSuite } from "./suite.mjs";

hookSuite("/hooks18/");
