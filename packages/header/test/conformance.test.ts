import t from 'tap'
import { sessionConformance } from '@sessionkit/core/testing'
import { harness } from './fixtures/harness.js'

t.test('sessionConformance: header', async (t) => sessionConformance(t, harness))
