// bench/run.sh --sandboxes, in L1 (bench/sandboxes.py starts the server and this):
// E2B's SDK's Sandbox.create() to its first commands.run('true') answered, one at a
// time and ten at once, and what each idle sandbox costs L1 (MemAvailable before and
// after, over N), against a bare PUT /fork of the same template (the server's, on its
// API socket) timed to its answer, the same ways. Prints one line "BENCH {json}".
import { Sandbox } from 'e2b'
import http from 'node:http'
import fs from 'node:fs'
import path from 'node:path'

const N = Number(process.env.BENCH_N || 10)
const AT_ONCE = Number(process.env.BENCH_AT_ONCE || 10)
const TPL_SOCK = process.env.TPL_API_SOCK
const FORK_DIR = path.dirname(TPL_SOCK)
const now = () => performance.now()
const settle = () => new Promise((r) => setTimeout(r, 3000))

function memAvailableKiB() {
  const m = fs.readFileSync('/proc/meminfo', 'utf8').match(/MemAvailable:\s+(\d+)/)
  return Number(m[1])
}

function pct(xs, p) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}

// Also its two parts: create() answered, then the first command.
async function create() {
  const t0 = now()
  const s = await Sandbox.create('base', { timeoutMs: 3_600_000, requestTimeoutMs: 600_000 })
  const t1 = now()
  await s.commands.run('true')
  const t2 = now()
  return [t2 - t0, s, t1 - t0, t2 - t1]
}

// A later command on a sandbox that has run one: what a command costs in the guest alone.
async function runAgain(s) {
  const t0 = now()
  await s.commands.run('true')
  return now() - t0
}

let bareSeq = 0
function bareFork() {
  const i = bareSeq++
  const body = JSON.stringify({ count: 1, template: 'Paused', clone: {
    api_sock: `bare${i}.sock`, serial_out: `bare${i}.log`,
    drive_overrides: [{ drive_id: 'rootfs', path_on_host: 'rootfs.img', is_read_only: true }],
    vsock_override: { uds_path: `bare${i}.vsock` } } })
  const t0 = now()
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: TPL_SOCK, path: '/fork', method: 'PUT',
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
    (res) => {
      let data = ''
      res.on('data', (c) => { data += c })
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`PUT /fork: ${res.statusCode} ${data}`))
        resolve([now() - t0, { pid: JSON.parse(data).clones[0].pid, i }])
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

function bareKill(c) {
  try { process.kill(c.pid, 'SIGKILL') } catch (e) { /* gone */ }
  for (const f of [`bare${c.i}.sock`, `bare${c.i}.log`, `bare${c.i}.vsock`]) {
    try { fs.unlinkSync(path.join(FORK_DIR, f)) } catch (e) { /* not made */ }
  }
}

// The template boots on the first create: outside the figures.
const [boot, first] = await create()
await first.kill()

const out = { n: N, atOnce: AT_ONCE, templateBootMs: Math.round(boot) }

// Sandboxes one at a time, then idle: the memory they hold.
await settle()
let before = memAvailableKiB()
const seq = []
const kept = []
const apiPart = []
const firstRun = []
for (let i = 0; i < N; i++) {
  const [ms, s, createMs, runMs] = await create()
  seq.push(ms)
  apiPart.push(createMs)
  firstRun.push(runMs)
  kept.push(s)
}
await settle()
out.sandboxKiBEach = Math.round((before - memAvailableKiB()) / N)
const again = []
for (const s of kept) again.push(await runAgain(s))
await Promise.all(kept.map((s) => s.kill()))
out.createSeq = { p50: pct(seq, 50), p99: pct(seq, 99) }
out.split = { createP50: pct(apiPart, 50), firstRunP50: pct(firstRun, 50),
  laterRunP50: pct(again, 50) }

const par = await Promise.all(Array.from({ length: AT_ONCE }, () => create()))
out.createAtOnce = { p50: pct(par.map((x) => x[0]), 50), p99: pct(par.map((x) => x[0]), 99) }
await Promise.all(par.map((x) => x[1].kill()))

// The bare fork of the same template, the same ways.
await settle()
before = memAvailableKiB()
const bseq = []
const bare = []
for (let i = 0; i < N; i++) {
  const [ms, c] = await bareFork()
  bseq.push(ms)
  bare.push(c)
}
await settle()
out.bareKiBEach = Math.round((before - memAvailableKiB()) / N)
bare.forEach(bareKill)
out.forkSeq = { p50: pct(bseq, 50), p99: pct(bseq, 99) }
const bpar = await Promise.all(Array.from({ length: AT_ONCE }, () => bareFork()))
out.forkAtOnce = { p50: pct(bpar.map((x) => x[0]), 50), p99: pct(bpar.map((x) => x[0]), 99) }
bpar.forEach((x) => bareKill(x[1]))

console.log('BENCH ' + JSON.stringify(out))
