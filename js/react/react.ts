// The one module that imports React. Bundled, each `import ... from "react"` statement costs an
// app bundle its own CommonJS interop wrapper around React; through here there is one.
export {
  createContext,
  createElement,
  useContext,
  useEffect,
  useInsertionEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from "react";
