// E2B's own SDK (`e2b`, pinned in package.json) against `hearth sandboxes`:
// run by tests/integration/run_sandboxd_test.py (case "sdk") with
// E2B_API_URL, E2B_SANDBOX_URL and E2B_API_KEY pointing at the server, and
// the template "base" (scripts/sandbox_template.py). Each check prints
// "ok - ..." or "not ok - ..."; the last line is "N passed, N failed", and
// the exit status 0 only when none failed. Every wait is for a state to be
// reached (bounded by a count, so a broken server fails rather than
// hangs), never for a time to pass.
import { Sandbox, CommandExitError, SandboxNotFoundError } from 'e2b'

let passed = 0
let failed = 0
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function check(cond, what) {
  if (cond) {
    passed++
    console.log(`ok - ${what}`)
  } else {
    failed++
    console.log(`not ok - ${what}`)
  }
}

// Polls f() until it is truthy, at most `tries` times: its last value.
async function until(f, tries = 300, every = 200) {
  let v
  for (let i = 0; i < tries; i++) {
    v = await f()
    if (v) return v
    await sleep(every)
  }
  return v
}

async function step(name, f) {
  try {
    await f()
  } catch (e) {
    failed++
    // fetch's own errors say what went wrong only in their cause.
    const cause = e && e.cause ? ` (cause: ${e.cause.code || ''} ${e.cause.message || e.cause})` : ''
    console.log(`not ok - ${name}: ${e && e.stack ? e.stack : e}${cause}`)
  }
}

const opts = { requestTimeoutMs: 600_000 }
let a, b, f

await step('create', async () => {
  a = await Sandbox.create('base', { ...opts, timeoutMs: 1_800_000, envs: { FOO: 'bar' },
                                     metadata: { suite: 'hearth', who: 'a' } })
  check(/^[a-z0-9]{20}$/.test(a.sandboxId), `Sandbox.create gives an id (${a.sandboxId})`)
})

await step('commands', async () => {
  const r = await a.commands.run('echo hello; echo oops >&2')
  check(r.exitCode === 0 && r.stdout === 'hello\n' && r.stderr === 'oops\n',
    `commands.run: stdout, stderr, exit 0 (${JSON.stringify(r)})`)
  try {
    await a.commands.run('echo out; exit 3')
    check(false, 'a command exiting 3 throws CommandExitError')
  } catch (e) {
    check(e instanceof CommandExitError && e.exitCode === 3 && e.stdout === 'out\n',
      `a command exiting 3 throws CommandExitError with its exit code and stdout (${e})`)
  }
  const env = await a.commands.run('echo "$FOO $BAZ $E2B_SANDBOX_ID"', { envs: { BAZ: 'qux' } })
  check(env.stdout.trim() === `bar qux ${a.sandboxId}`,
    `env vars: the sandbox's (create), the command's, E2B_SANDBOX_ID (${env.stdout.trim()})`)
  const cwd = await a.commands.run('pwd', { cwd: '/tmp' })
  const home = await a.commands.run('pwd; id -un')
  check(cwd.stdout.trim() === '/tmp' && home.stdout === '/home/user\nuser\n',
    `cwd: given /tmp (${cwd.stdout.trim()}), else the user's home as the user (${home.stdout.trim()})`)
})

await step('background', async () => {
  const h = await a.commands.run('sleep 1000', { background: true })
  const listed = await a.commands.list()
  check(listed.some((p) => p.pid === h.pid), `a background command is listed (pid ${h.pid})`)
  check(await h.kill(), 'its kill() answers true')
  const gone = await until(async () => !(await a.commands.list()).some((p) => p.pid === h.pid))
  check(gone, 'it is gone from commands.list() once killed')
  const ps = await a.commands.run(`kill -0 ${h.pid} 2>/dev/null && echo alive || echo dead`)
  check(ps.stdout.trim() === 'dead', `and from the guest (${ps.stdout.trim()})`)
})

await step('files', async () => {
  await a.files.write('/home/user/a.txt', 'hello text\n')
  check((await a.files.read('/home/user/a.txt')) === 'hello text\n', 'files: text round trip')
  const bin = new Uint8Array(256 * 64)
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 7 + (i >> 8)) & 255
  await a.files.write('/home/user/b.bin', bin.buffer)
  const back = await a.files.read('/home/user/b.bin', { format: 'bytes' })
  check(back.length === bin.length && back.every((v, i) => v === bin[i]),
    `files: binary round trip, ${bin.length} bytes, every value`)
  const cat = await a.commands.run('cat /home/user/a.txt; od -An -tu1 -N4 -j1000 /home/user/b.bin')
  check(cat.stdout.startsWith('hello text\n') &&
        cat.stdout.slice(11).trim().split(/\s+/).map(Number).join() ===
        Array.from(bin.slice(1000, 1004)).join(),
    `the guest reads what files.write wrote (${JSON.stringify(cat.stdout)})`)
  const names = (await a.files.list('/home/user')).map((e) => e.name).sort()
  check(names.includes('a.txt') && names.includes('b.bin'), `files.list (${names})`)
})

await step('watch', async () => {
  await a.files.makeDir('/home/user/w')
  const seen = []
  const w = await a.files.watchDir('/home/user/w', (ev) => seen.push(ev))
  await a.files.write('/home/user/w/new.txt', 'x')
  const got = await until(() => seen.some((ev) => ev.name === 'new.txt'))
  check(got, `watchDir sees a file written in the directory (${JSON.stringify(seen)})`)
  await w.stop()
})

await step('two sandboxes', async () => {
  b = await Sandbox.create('base', { ...opts, timeoutMs: 1_800_000, metadata: { suite: 'hearth', who: 'b' } })
  await a.files.write('/tmp/secret-a', 'only a')
  const h = await a.commands.run('sleep 999', { background: true })
  check(!(await b.files.exists('/tmp/secret-a')), "b does not see a's file")
  check(!(await b.commands.list()).some((p) => p.pid === h.pid && p.cmd === '/bin/bash' &&
    p.args.join(' ').includes('sleep 999')), "b does not see a's process")
  const bps = await b.commands.run('ps -o args 2>/dev/null || ps', {})
  check(!bps.stdout.includes('sleep 999'), "b's ps does not show a's process")
  // The server refuses a's id with b's token: b's token never reaches a, nor a's b.
  const res = await fetch(process.env.E2B_SANDBOX_URL + '/envs', {
    headers: { 'E2b-Sandbox-Id': a.sandboxId, 'E2b-Sandbox-Port': '49983',
               'X-Access-Token': b.envdAccessToken } })
  check(res.status === 401, `a request naming a with b's token is refused (${res.status})`)
  await h.kill()
  const listed = await Sandbox.list({ query: { metadata: { who: 'b' } } }).nextItems()
  check(listed.length === 1 && listed[0].sandboxId === b.sandboxId,
    `Sandbox.list filters by metadata (${listed.map((s) => s.sandboxId)})`)
})

await step('pause and connect', async () => {
  await a.files.write('/home/user/keep.txt', 'kept across the pause')
  // A value that lives only in a process's memory once its file is gone.
  const h = await a.commands.run(
    'n=$RANDOM$RANDOM; echo $n > /tmp/n; while :; do echo $n > /tmp/n2; sleep 0.2; done',
    { background: true })
  const n = (await until(async () => (await a.commands.run('cat /tmp/n 2>/dev/null || true')).stdout.trim())).trim()
  await a.commands.run('rm -f /tmp/n')
  check(await a.pause(), 'pause() answers true')
  const info = await Sandbox.getInfo(a.sandboxId)
  check(info.state === 'paused', `getInfo says paused (${info.state})`)
  const again = await Sandbox.connect(a.sandboxId, opts)
  check(again.sandboxId === a.sandboxId, 'Sandbox.connect resumes it')
  check((await a.files.read('/home/user/keep.txt')) === 'kept across the pause',
    'a file written before the pause is there after it')
  check((await a.commands.list()).some((p) => p.pid === h.pid), 'the process runs on (same pid)')
  await a.commands.run('rm -f /tmp/n2')
  const n2 = (await until(async () => (await a.commands.run('cat /tmp/n2 2>/dev/null || true')).stdout.trim())).trim()
  check(n !== '' && n2 === n, `its memory was kept: it writes the value it held (${n} then ${n2})`)
  await h.kill()
})

await step('fork', async () => {
  const forks = await a.fork(opts)
  check(forks.length === 1 && !(forks[0] instanceof Error), `fork gives one sandbox (${forks})`)
  f = forks[0]
  check(f.sandboxId !== a.sandboxId, `with an id of its own (${f.sandboxId})`)
  check((await f.files.read('/home/user/keep.txt')) === 'kept across the pause',
    "the fork has the parent's files")
  await a.files.write('/home/user/who', 'parent')
  await f.files.write('/home/user/who', 'fork')
  check((await a.files.read('/home/user/who')) === 'parent' &&
        (await f.files.read('/home/user/who')) === 'fork', 'the two diverge')
  const ida = (await a.commands.run('echo $E2B_SANDBOX_ID')).stdout.trim()
  const idf = (await f.commands.run('echo $E2B_SANDBOX_ID')).stdout.trim()
  check(ida === a.sandboxId && idf === f.sandboxId, `each knows its own id (${ida}, ${idf})`)
})

await step('setTimeout', async () => {
  await b.setTimeout(2000)
  const gone = await until(async () => {
    try {
      await Sandbox.getInfo(b.sandboxId)
      return false
    } catch (e) {
      return e instanceof SandboxNotFoundError
    }
  })
  check(gone, 'setTimeout ends a sandbox by itself')
  check(!(await b.isRunning()), 'and its envd endpoint says it is not running')
})

await step('kill and list', async () => {
  check(await f.kill(), 'kill() answers true')
  const running = await Sandbox.list({ query: { state: ['running'] } }).nextItems()
  const ids = running.map((s) => s.sandboxId)
  check(ids.includes(a.sandboxId) && !ids.includes(f.sandboxId) && !ids.includes(b.sandboxId),
    `list: the live one, not the killed or timed-out ones (${ids})`)
  check(!(await Sandbox.kill(f.sandboxId)), 'killing it again answers false')
  check(await a.kill(), 'the last one killed')
})

console.log(`${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
