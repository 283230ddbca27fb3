// `resocket/react`: React bindings. Deliberately thin: reconnection, queues, requests, rooms,
// presence and documents live in the WASM client; these hooks subscribe React to it through
// `useSyncExternalStore`, coalesce bursts into one render per animation frame, and release every
// WASM object when the last component using it unmounts.
export { Connection, ResocketProvider, useResocket } from "./connection.js";
export type { ClientModule, Notification, Quality, ResocketProviderProps } from "./connection.js";
export { useConnection, useConnectionQuality, useWebSocket } from "./status.js";
export type { ReadyState } from "./status.js";
export { useChat, useMessage, usePresence, useRoom } from "./rooms.js";
export type { ChatMessage, ChatOptions, RoomMessage, RoomOptions, RoomView } from "./rooms.js";
export { useNotifications } from "./notifications.js";
export { useRequest } from "./requests.js";
export type { RequestState } from "./requests.js";
export { useSyncedDoc } from "./docs.js";
export type { SyncedDocView } from "./docs.js";
