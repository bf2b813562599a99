import t from 'tap'
import { ecosystemConformance } from '@sessionkit/core/testing'
import { bearerHarness, cookieHarness } from './fixtures/keys.js'

t.test('ecosystemConformance: JWT over Bearer', async (t) => ecosystemConformance(t, bearerHarness()))
t.test('ecosystemConformance: JWT over a cookie', async (t) => ecosystemConformance(t, cookieHarness()))
