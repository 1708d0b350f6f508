// The signed-in key lives in sessionStorage only: it is gone when the tab closes, never sent as a cookie
// (so no other site can ride on it) and never put in a URL (so it stays out of history and logs).
const KEY = 'aiaas.key';
const ME = 'aiaas.me';

export const session = {
  key: () => sessionStorage.getItem(KEY),
  me: () => JSON.parse(sessionStorage.getItem(ME) || 'null'),
  signIn(key, me) { sessionStorage.setItem(KEY, key); sessionStorage.setItem(ME, JSON.stringify(me)); },
  signOut() { sessionStorage.removeItem(KEY); sessionStorage.removeItem(ME); },
};

const RANK = { predict: 0, member: 1, admin: 2 };

// The same order as the service's roles: admin > member > predict.
export function allows(me, role) {
  return !!me && RANK[me.role] >= RANK[role];
}
