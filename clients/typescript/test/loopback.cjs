// Copy of tests/fixtures/loopback.cjs, so this client's test does not depend on the
// Rust test tree.
// Preload (`node --require`) that keeps a Node server on loopback. The MCP
// reference server (server-everything) listens on all interfaces and has no
// host option, so every listen() is pinned to 127.0.0.1. Tests never open a
// port on another interface.
const net = require("net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const callback = args.find((a) => typeof a === "function");
  let port = 0;
  if (typeof args[0] === "object" && args[0] !== null) {
    port = Number(args[0].port || 0);
  } else if (args[0] !== undefined && typeof args[0] !== "function") {
    port = Number(args[0]);
  }
  return callback
    ? listen.call(this, { port, host: "127.0.0.1" }, callback)
    : listen.call(this, { port, host: "127.0.0.1" });
};
