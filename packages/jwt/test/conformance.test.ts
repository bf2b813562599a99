import t from 'tap'
import { sessionConformance } from '@sessionkit/core/testing'
import { bearerHarness, cookieHarness } from './fixtures/keys.js'

t.test('sessionConformance: JWT over Bearer', async (t) => sessionConformance(t, bearerHarness()))
t.test('sessionConformance: JWT over a cookie', async (t) => sessionConformance(t, cookieHarness()))
t.test('sessionConformance: JWT without refresh tokens', async (t) => sessionConformance(t, bearerHarness({ refreshTokenTtl: false, cache: false })))
