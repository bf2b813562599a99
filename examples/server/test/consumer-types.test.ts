import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

// What a user's compiler sees: test/fixtures/consumer/app.ts, an app written against every package,
// compiled against the packages' built declarations (found through their package.json, not the
// sources the other tests import), with the strictest settings users turn on
// (`exactOptionalPropertyTypes`, `skipLibCheck: false`) and under each module resolution in use:
// `NodeNext`, `Bundler`, and `Node10`, which a `"module": "CommonJS"` project gets by default and
// which reads no `exports` map.
const run = promisify(execFile)
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
const root = new URL('../../../', import.meta.url)
const PACKAGES = ['core', 'cookie', 'header', 'query', 'jwt', 'redis', 'web-storage']

async function compile (args: string[]): Promise<{ code: number, output: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [tsc, ...args], { maxBuffer: 64 * 1024 * 1024 })
    return { code: 0, output: stdout + stderr }
  } catch (err) {
    const { code, stdout, stderr } = err as { code: number, stdout: string, stderr: string }
    return { code, output: stdout + stderr }
  }
}

t.before(async () => {
  // the declarations are built as `pnpm build` builds them (CI runs the tests on a fresh clone)
  const built = await compile(['-b', ...PACKAGES.map((name) => fileURLToPath(new URL(`packages/${name}`, root)))])
  if (built.code !== 0) throw new Error(`building the packages failed:\n${built.output}`)
})

for (const resolution of ['nodenext', 'bundler', 'node10']) {
  t.test(`an app compiles against the built packages with moduleResolution ${resolution}`, async (t) => {
    const project = fileURLToPath(new URL(`fixtures/consumer/tsconfig.${resolution}.json`, import.meta.url))
    const { code, output } = await compile(['-p', project, '--listFilesOnly'])
    t.equal(code, 0, code === 0 ? 'the files are listed' : output)
    const files = output.split('\n').map((line) => line.trim())
    // each package by its built entry point, none by its sources
    for (const name of PACKAGES) {
      t.ok(files.includes(fileURLToPath(new URL(`packages/${name}/dist/index.d.ts`, root))), `${name}: dist/index.d.ts`)
    }
    t.same(files.filter((file) => file.startsWith(fileURLToPath(new URL('packages/', root))) && file.includes('/src/')), [], 'no package source')
    const checked = await compile(['-p', project])
    t.equal(checked.output, '', 'no diagnostics')
    t.equal(checked.code, 0)
  })
}

t.test('the browser client compiles in a browser app: the DOM\'s types, no Node.js types', async (t) => {
  const project = fileURLToPath(new URL('fixtures/consumer/tsconfig.browser.json', import.meta.url))
  const listed = await compile(['-p', project, '--listFilesOnly'])
  t.ok(listed.output.split('\n').map((line) => line.trim()).includes(fileURLToPath(new URL('packages/web-storage/dist/index.d.ts', root))), 'web-storage: dist/index.d.ts')
  t.notMatch(listed.output, /@types[\\/]node/, 'no Node.js types')
  const { code, output } = await compile(['-p', project])
  t.equal(output, '', 'no diagnostics')
  t.equal(code, 0)
})

/** The READMEs whose examples a user copies: the root's, each package's and each example's. */
async function readmes (): Promise<string[]> {
  const found = [fileURLToPath(new URL('README.md', root))]
  for (const folder of ['packages', 'examples']) {
    for (const name of (await readdir(new URL(`${folder}/`, root))).sort()) {
      found.push(fileURLToPath(new URL(`${folder}/${name}/README.md`, root)))
    }
  }
  return found
}

t.test('every whole TypeScript example of a README compiles against the built packages', async (t) => {
  // a whole example starts with its imports; the others are fragments of one (an option, a signature)
  const examples: Array<{ from: string, code: string }> = []
  for (const file of await readmes()) {
    const text = await readFile(file, 'utf8').catch(() => '')
    for (const [, code] of text.matchAll(/```ts\n([\s\S]*?)```/g)) {
      if ((code as string).startsWith('import ')) examples.push({ from: file, code: code as string })
    }
  }
  t.ok(examples.length >= 8, `${examples.length} examples found`)
  // beside the fixture, so that they find the packages as the app does; as ES modules (top-level await)
  const dir = await mkdtemp(fileURLToPath(new URL('fixtures/consumer/readme-', import.meta.url)))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const names = await Promise.all(examples.map(async ({ code }, index) => {
    const name = `example-${index}.ts`
    await writeFile(join(dir, name), code)
    return name
  }))
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
    extends: '../tsconfig.nodenext.json',
    // READMEs read the environment as most apps do (process.env.NAME)
    compilerOptions: { noPropertyAccessFromIndexSignature: false },
    files: names
  }))
  const { code, output } = await compile(['-p', join(dir, 'tsconfig.json')])
  // name each failing example by its README
  const named = output.replace(/example-(\d+)\.ts/g, (_, index: string) => (examples[Number(index)] as { from: string }).from.slice(fileURLToPath(root).length))
  t.equal(named, '', 'no diagnostics')
  t.equal(code, 0)
})
