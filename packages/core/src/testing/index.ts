export { sessionConformance, type SessionHarness, type HarnessEngineOptions } from './session-conformance.js'
export { storeConformance, type StoreHarness } from './store-conformance.js'
export { ManualClock } from './clock.js'
export { ecosystemConformance } from './ecosystem-conformance.js'
