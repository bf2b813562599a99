import t from 'tap'
import { ecosystemConformance } from '@sessionkit/core/testing'
import { harness } from './fixtures/harness.js'

t.test('ecosystemConformance: cookie', async (t) => ecosystemConformance(t, harness()))
