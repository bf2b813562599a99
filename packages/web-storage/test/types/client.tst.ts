import { expect, test } from 'tstyche'
import { createSessionClient, type SessionClient, type SessionClientOptions } from '@sessionkit/web-storage'

test('typed options and a fetch-compatible client', () => {
  const client = createSessionClient({ mechanism: 'jwt', storage: 'local', baseUrl: 'https://app.example' })
  expect(client).type.toBe<SessionClient>()
  expect(client.fetch('/me')).type.toBe<Promise<Response>>()
  expect(client.fetch).type.toBeCallableWith(new Request('https://app.example/me'), { method: 'POST' })
  expect<SessionClientOptions>().type.not.toBeAssignableFrom({ mechanism: 'cookie' })
  expect<SessionClientOptions>().type.toBeAssignableFrom({ mechanism: 'header' as const, baseUrl: undefined as string | undefined, storage: undefined })
  expect<SessionClientOptions>().type.not.toBeAssignableFrom({ mechanism: 'header', storage: 'cookies' })
  expect(client.onChange((state) => state.authenticated)).type.toBe<() => void>()
  expect(client.remember(false)).type.toBe<void>()
  expect(client.remember).type.not.toBeCallableWith('local')
  expect(client.state().remembered).type.toBe<boolean>()
})
