import { timingSafeEqual, createHash } from 'node:crypto'

/** The demo's users. A real app checks a password hash (argon2, scrypt); these are fixed demo accounts. */
const USERS = new Map([
  ['alice', 'alice-secret'],
  ['bob', 'bob-secret']
])

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

/** Whether the password is the user's, in time that does not depend on where they differ. */
export function checkPassword (username: string, password: string): boolean {
  const expected = USERS.get(username)
  const match = timingSafeEqual(digest(expected ?? ''), digest(password))
  return expected !== undefined && match
}
