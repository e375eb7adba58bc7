import { lookup as dnsLookup } from 'node:dns/promises'
import { BlockList, isIP } from 'node:net'
import { AppError } from '../errors.js'

/** Resolves a host name to its addresses (like `dns.lookup` with `all: true`, which reads /etc/hosts). */
export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>

export const systemResolver: Resolver = (hostname) => dnsLookup(hostname, { all: true, verbatim: true })

/**
 * Addresses a URL given by a caller must never reach: anything that is not the public internet. Two lists: a
 * BlockList matches IPv4 addresses against IPv6 rules through their mapped form, so `::ffff:0:0/96` would
 * otherwise forbid every IPv4 address.
 */
const FORBIDDEN_V4 = new BlockList()
const FORBIDDEN_V6 = new BlockList()
for (const [net, prefix] of [
  ['0.0.0.0', 8], // "this network", includes the unspecified 0.0.0.0
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, includes cloud metadata 169.254.169.254
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, includes broadcast
] as const) {
  FORBIDDEN_V4.addSubnet(net, prefix, 'ipv4')
}
for (const [net, prefix] of [
  ['::', 128], // unspecified
  ['::1', 128], // loopback
  ['::ffff:0:0', 96], // IPv4-mapped: would reach any IPv4 address, private ones included
  ['64:ff9b::', 96], // NAT64, same reason
  ['64:ff9b:1::', 48], // local-use NAT64 (RFC 8215)
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['ff00::', 8], // multicast
] as const) {
  FORBIDDEN_V6.addSubnet(net, prefix, 'ipv6')
}

/** The eight 16-bit groups of an IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase()
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted) {
    const [a, b, c, d] = dotted[1]!.split('.').map(Number) as [number, number, number, number]
    text = `${text.slice(0, -dotted[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined]
  const left = head ? head.split(':') : []
  const right = tail ? tail.split(':') : []
  const middle = tail === undefined ? [] : Array(8 - left.length - right.length).fill('0')
  return [...left, ...middle, ...right].map((g) => parseInt(g, 16))
}

const ipv4Of = (high: number, low: number) => `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`

/**
 * IPv4 addresses an IPv6 address carries and reaches through a gateway or tunnel: IPv4-compatible (`::a.b.c.d`),
 * 6to4 (2002:aabb:ccdd::/16), Teredo (2001:0::/32: the server, and the client stored inverted in the last 32 bits).
 * Mapped (::ffff:0:0/96) and NAT64 (64:ff9b::/96) are refused whole by FORBIDDEN_V6.
 */
function embeddedIpv4(address: string): string[] {
  const g = ipv6Groups(address)
  if (g.length !== 8 || g.some((x) => Number.isNaN(x))) return []
  if (g.slice(0, 6).every((x) => x === 0) && (g[6] !== 0 || g[7]! > 1)) return [ipv4Of(g[6]!, g[7]!)]
  if (g[0] === 0x2002) return [ipv4Of(g[1]!, g[2]!)]
  if (g[0] === 0x2001 && g[1] === 0) return [ipv4Of(g[2]!, g[3]!), ipv4Of(g[6]! ^ 0xffff, g[7]! ^ 0xffff)]
  return []
}

/**
 * True for loopback, private, link-local (metadata), CGNAT, unspecified, multicast and IPv4-mapped/NAT64 IPv6, and
 * for IPv6 forms that embed a forbidden IPv4 address (IPv4-compatible, 6to4, Teredo).
 */
export function isForbiddenAddress(address: string): boolean {
  const family = isIP(address)
  if (family === 0) return true
  if (family === 4) return FORBIDDEN_V4.check(address, 'ipv4')
  return FORBIDDEN_V6.check(address, 'ipv6') || embeddedIpv4(address).some((v4) => FORBIDDEN_V4.check(v4, 'ipv4'))
}

export interface AddressCheck {
  /** Hosts (lower case) that may resolve to forbidden addresses. */
  allowHosts: ReadonlySet<string>
  resolve: Resolver
}

/**
 * Resolves `hostname` once and returns the address to connect to, so the connection goes to the address that was
 * checked (no second lookup a DNS rebinding could answer differently). Every resolved address must be allowed:
 * a name that resolves to one public and one private address is refused.
 * @throws AppError URL_FORBIDDEN, IMAGE_FETCH_FAILED (the name does not resolve)
 */
export async function checkedAddress(hostname: string, check: AddressCheck): Promise<{ address: string; family: 4 | 6 }> {
  const host = hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase() // URL keeps IPv6 literals in brackets
  let addresses: { address: string; family: number }[]
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) }]
  else {
    try {
      addresses = await check.resolve(host)
    } catch (err) {
      throw new AppError('IMAGE_FETCH_FAILED', `cannot resolve ${host}: ${(err as Error).message}`)
    }
  }
  const first = addresses[0]
  if (!first) throw new AppError('IMAGE_FETCH_FAILED', `${host} resolves to no address`)
  if (!check.allowHosts.has(host)) {
    const bad = addresses.find((a) => isForbiddenAddress(a.address))
    if (bad) {
      throw new AppError('URL_FORBIDDEN', `${host} resolves to ${bad.address}, a loopback, private, link-local or reserved address`, {
        host,
        address: bad.address,
      })
    }
  }
  return { address: first.address, family: first.family === 6 ? 6 : 4 }
}

/** Parses PREDICT_URL_ALLOWLIST (comma-separated host names) into the set `checkedAddress` takes. */
export function parseAllowList(value: string): ReadonlySet<string> {
  return new Set(
    value
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h.length > 0),
  )
}
