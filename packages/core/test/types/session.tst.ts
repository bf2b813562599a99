import { expect, test } from 'tstyche'
import Fastify from 'fastify'
import { sessionkit, credentialHeaderWriter, MemoryStore, repeatsHeader, RESERVED_HEADERS, storeCallDeadline, VerifiedCache, type Session, type SessionkitOptions, type SessionStore, type SessionSummary } from '@sessionkit/core'

declare module '@sessionkit/core' {
  interface SessionData {
    userId: string
    cart: { items: string[] }
  }
}

declare const session: Session

test('declared keys are typed on get and set', () => {
  expect(session.get('userId')).type.toBe<string | undefined>()
  expect(session.get('cart')).type.toBe<{ items: string[] } | undefined>()
  expect(session.set).type.toBeCallableWith('userId', 'u1')
  expect(session.set).type.toBeCallableWith('userId', undefined)
  expect(session.set).type.not.toBeCallableWith('userId', 42)
  expect(session.set).type.not.toBeCallableWith('cart', { items: [1] })
})

test('other keys stay usable, typed unknown', () => {
  expect(session.get('flash')).type.toBe<unknown>()
  expect(session.set).type.toBeCallableWith('passport', { user: 'u1' })
})

test('the lifecycle is async and typed', () => {
  expect(session.regenerate()).type.toBe<Promise<void>>()
  expect(session.regenerate).type.toBeCallableWith(['cart'])
  expect(session.regenerate).type.not.toBeCallableWith('cart')
  expect(session.destroy()).type.toBe<Promise<void>>()
  expect(session.save()).type.toBe<Promise<void>>()
  expect(session.reload()).type.toBe<Promise<void>>()
  expect(session.touch()).type.toBe<void>()
  expect(session.id).type.toBe<string | null>()
  expect(session.expiresAt).type.toBe<number | null>()
  expect(session.remember()).type.toBe<void>()
  expect(session.remember).type.toBeCallableWith(false)
  expect(session.remember).type.not.toBeCallableWith('yes')
  expect(session.remembered).type.toBe<boolean>()
})

test('request.session and fastify.sessionkit are declared once, by core', () => {
  const app = Fastify()
  app.get('/', async (request) => {
    expect(request.session).type.toBe<Session>()
    return null
  })
  expect(app.sessionkit.listUserSessions('u1')).type.toBe<Promise<SessionSummary[]>>()
  expect(app.sessionkit.revokeUserSessions).type.toBeCallableWith('u1', { except: 'id' })
  expect(app.get).type.toBeCallableWith('/health', { config: { session: false } }, async () => null)
})

test('options are typed', () => {
  const app = Fastify()
  expect(app.register).type.toBeCallableWith(sessionkit, { secret: 'x'.repeat(32), transports: [], store: new MemoryStore() })
  // with exactOptionalPropertyTypes on: options read from the environment may be undefined, and the memory store is a SessionStore
  expect<SessionkitOptions>().type.toBeAssignableFrom({ secret: 'x'.repeat(32), transports: [], idleTimeout: undefined as number | undefined, store: undefined as MemoryStore | undefined })
  expect<SessionStore>().type.toBeAssignableFrom(new MemoryStore())
  // a store's methods are methods: one whose `meta` leaves `undefined` out of `userId` still implements the interface
  class OwnStore extends MemoryStore {
    override async merge (id: string, changes: ReadonlyMap<string, unknown>, meta: { lastSeenAt: number, userId?: string | null }, ttl: number): Promise<number | null> {
      return await super.merge(id, changes, meta, ttl)
    }
  }
  expect<SessionStore>().type.toBeAssignableFrom(new OwnStore())
  expect<SessionkitOptions>().type.not.toBeAssignableFrom({ secret: 42, transports: [] })
  expect<SessionkitOptions>().type.not.toBeAssignableFrom({ secret: 'x'.repeat(32) })
  expect<SessionkitOptions>().type.not.toBeAssignableFrom({ secret: 'x'.repeat(32), transports: [], idleTimeout: '30m' })
})

test('the building blocks are typed', () => {
  const cache = new VerifiedCache<{ id: string }>(10)
  expect(cache.get('credential')).type.toBe<{ id: string } | undefined>()
  expect(cache.set).type.toBeCallableWith('credential', { id: 'x' })
  expect(cache.set).type.not.toBeCallableWith('credential', 42)
  expect(credentialHeaderWriter('x-session-id', true)).type.toBe<(reply: import('fastify').FastifyReply, value: string) => void>()
  expect(RESERVED_HEADERS).type.toBe<ReadonlySet<string>>()
  expect(repeatsHeader(['Authorization', 'x'], 'authorization')).type.toBe<boolean>()
  expect(repeatsHeader).type.not.toBeCallableWith('Authorization: x', 'authorization')
  expect(storeCallDeadline()).type.toBe<number | undefined>()
  expect<import('@sessionkit/core').MemoryStoreOptions>().type.toBeAssignableFrom({ maxEntries: 10, maxRevocations: undefined as number | undefined })
  expect<import('@sessionkit/core').MemoryStoreOptions>().type.not.toBeAssignableFrom({ maxRevocations: '10' })
})
