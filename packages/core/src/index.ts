export { sessionkit, sessionkit as default, type SessionAdmin } from './plugin.js'
export type {
  CredentialReading, Session, SessionData, SessionKey, SessionStore, SessionSummary, StoredSession, Transport
} from './contract.js'
export type { EngineOptions, SessionkitOptions } from './options.js'
export { errors, type SessionkitErrorCode } from './errors.js'
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js'
export { KeyRing, CREDENTIAL_LENGTH, isWellFormedCredential, type Secret } from './credential.js'
export { callbackStore, type CallbackStore, type CallbackStoreOptions } from './callback-store.js'
export { sessionCredential } from './session.js'
export type { EngineOptions as ServerSessionOptions } from './options.js'
