import { DatabaseSync } from "node:sqlite";
let db: DatabaseSync | undefined;
self.onmessage = (e: MessageEvent) => {
  const { path, sql, columnar } = e.data;
  db ??= new DatabaseSync(path);
  const st = db.prepare(sql);
  st.setReadBigInts(true);
  if (columnar) {
    st.setReturnArrays(true);
    const rows = st.all() as unknown[][];
    const names = st.columns().map((c: any) => c.name);
    self.postMessage({ names, rows });
  } else {
    self.postMessage({ rows: st.all() });
  }
};
