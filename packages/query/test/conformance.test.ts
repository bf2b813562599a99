import t from 'tap'
import { sessionConformance } from '@sessionkit/core/testing'
import { harness } from './fixtures/harness.js'

t.test('sessionConformance: query', async (t) => sessionConformance(t, harness))
