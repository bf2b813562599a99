import t from 'tap'
import { sessionConformance } from '@sessionkit/core/testing'
import { harness } from './fixtures/harness.js'

t.test('sessionConformance: cookie', async (t) => sessionConformance(t, harness()))
t.test('sessionConformance: cookie with __Host- prefix', async (t) => sessionConformance(t, harness({ hostPrefix: true }, '__Host-sid')))
