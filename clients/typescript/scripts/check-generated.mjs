// Drift check: regenerates the client from proto/ into a temporary directory
// with the same buf.gen.yaml and compares it with the committed src/gen/.
// Exits 1 (printing a diff) when they differ: run `npm run generate` and commit.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const buf = join(pkg, "node_modules", ".bin", "buf");
const tmp = mkdtempSync(join(tmpdir(), "mcp-registry-ts-gen-"));
let status = 2;
try {
  const gen = spawnSync(buf, ["generate", "--template", "buf.gen.yaml", "--output", tmp], {
    cwd: pkg,
    stdio: "inherit",
  });
  if (gen.error || gen.status !== 0) {
    console.error(`check-generated: buf generate failed (${gen.error?.message ?? `exit ${gen.status}`})`);
  } else {
    const diff = spawnSync("diff", ["-ruN", "src/gen", join(tmp, "src", "gen")], {
      cwd: pkg,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    if (diff.error) {
      console.error(`check-generated: cannot run diff: ${diff.error.message}`);
    } else if (diff.status === 0) {
      console.log("check-generated: src/gen/ is up to date with proto/");
      status = 0;
    } else {
      process.stdout.write(diff.stdout.length > 20000 ? diff.stdout.slice(0, 20000) + "\n[diff cut]\n" : diff.stdout);
      process.stderr.write(diff.stderr);
      console.error("check-generated: src/gen/ differs from what proto/ generates: run `npm run generate` and commit src/gen/");
      status = 1;
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(status);
