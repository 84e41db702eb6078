// Runs the GraphQL-over-HTTP audit of graphql-http (serverAudits) against a server.
//
// Usage: node audit.mjs URL. Prints one JSON object per line for every audit:
// {"id", "name", "status": "ok" | "warn" | "error", "reason"}. Talks to URL only.
import { serverAudits } from "graphql-http";

const url = process.argv[2];
if (!url) {
  process.stderr.write("usage: node audit.mjs URL\n");
  process.exit(2);
}

for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  const line = { id: result.id, name: result.name, status: result.status };
  if (result.status !== "ok") {
    line.reason = result.reason;
    line.httpStatus = result.response?.status;
    line.body = await result.response?.text().catch(() => "(already read by the audit)");
  }
  process.stdout.write(JSON.stringify(line) + "\n");
}
