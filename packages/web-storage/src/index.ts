export { createSessionClient, type SessionClient, type SessionClientOptions, type SessionState } from './client.js'
export type { StorageKind, StorageLike } from './storage.js'
