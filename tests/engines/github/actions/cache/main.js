// Entry point of the stand-in: node only launches; the restore logic lives in cache.py.
const { spawnSync } = require("node:child_process");
const path = require("node:path");

const run = spawnSync("python3", [path.join(__dirname, "cache.py"), "restore"], { stdio: "inherit" });
process.exitCode = run.status ?? 1;
