// Post step of the stand-in (runs at the end of a successful job): save the cache via cache.py.
const { spawnSync } = require("node:child_process");
const path = require("node:path");

const run = spawnSync("python3", [path.join(__dirname, "cache.py"), "save"], { stdio: "inherit" });
process.exitCode = run.status ?? 1;
