import postgres from "postgres";
const sql = postgres("postgres://postgres@127.0.0.1:5432/test_dblayer", { onnotice: () => {} });
await sql.unsafe("create temp table tt (a int, b text, c bool, d jsonb, e timestamptz, f float4, g numeric, h bytea, i date, j int8)");
const d = await sql.unsafe("insert into tt (a,b,c,d,e,f,g,h,i,j) values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)", [], { prepare: true }).describe();
console.log(d.types, d.columns, Object.keys(d));
const d2 = await sql.unsafe("select a from tt where b = $1", [], { prepare: true }).describe();
console.log(d2.types, d2.columns?.map((c: any) => c.type));
await sql.end();
