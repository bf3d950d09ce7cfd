// A stand-in for the D1 binding in raw workerd, for scenario (l) only: `make bench` runs
// workerd without Miniflare, which is what provides D1 locally. D1's own SQLite work runs in
// D1's Durable Object, not in the Worker, so what the Worker is billed for is what this
// measures: counting in wasm, building the statements, the batch call and its answer. Salts
// are answered for every day asked; writes report no rows.
class Statement {
  constructor(sql) {
    this.sql = sql;
    this.params = [];
  }
  bind(...params) {
    this.params = params;
    return this;
  }
}

const SALT = "ab".repeat(32);

export default function makeBinding() {
  return {
    prepare: (sql) => new Statement(sql),
    async batch(statements) {
      return statements.map((s) =>
        s.sql.startsWith("SELECT day, hex(salt)")
          ? { results: JSON.parse(s.params[0]).map((day) => ({ day, salt: SALT })), meta: {} }
          : { results: [], meta: { rows_written: 0, changes: 0 } });
    },
  };
}
