export { sessionkit, sessionkit as default, type SessionAdmin } from './plugin.js'
export type {
  CredentialReading, Session, SessionData, SessionKey, SessionStore, SessionSummary, StoredSession, Transport
} from './contract.js'
export type { EngineOptions, SessionkitOptions } from './options.js'
export { errors, type SessionkitErrorCode } from './errors.js'
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js'
export { KeyRing, CREDENTIAL_LENGTH, SESSION_ID, isWellFormedCredential, generateToken, sessionIdOf, type Secret } from './credential.js'
export { callbackStore, type CallbackStore, type CallbackStoreOptions } from './callback-store.js'
export { sessionCredential } from './session.js'
export type { EngineOptions as ServerSessionOptions } from './options.js'
export { SessionState } from './session-state.js'
export { createStoreGuard, type StoreGuard } from './store-guard.js'
export { readRecord } from './record.js'
