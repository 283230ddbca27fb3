// The hook tests with React 19 (the harness build under /hooks/).
import { hookSuite } from "./suite.mjs";

hookSuite("/hooks/");
