// Composes federation v2 subgraphs into a supergraph with @apollo/composition.
//
// Reads {"subgraphs": [{"name", "url", "sdl"}, ...]} as JSON on stdin. On success prints
// the supergraph SDL and exits 0; on failure prints the composition errors to stderr
// and exits 1. A pure function of its input: no network, no telemetry.
import { composeServices } from "@apollo/composition";
import { parse } from "graphql";

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

const { subgraphs } = JSON.parse(await readStdin());
const result = composeServices(
  subgraphs.map(({ name, url, sdl }) => ({ name, url, typeDefs: parse(sdl) })),
);

if (result.errors) {
  for (const error of result.errors) {
    const code = error.extensions?.code ?? "ERROR";
    process.stderr.write(`${code}: ${error.message}\n`);
  }
  process.exit(1);
}
process.stdout.write(result.supergraphSdl);
