// The comparison peer: node + socket.io 4.8 with the events the load generator uses —
// `join_project` (one project room, acked), `connection_status`, and
// `POST /api/projects` / `POST /api/projects/:id/events` broadcasting into `project_{id}`.
//   PORT=8100 node server.js
import { createServer } from "node:http";
import { Server } from "socket.io";

let nextProject = 1;
const http = createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    const reply = (status, data) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(data));
    };
    if (req.method === "POST" && req.url === "/api/projects") {
      return reply(201, { id: nextProject++, name: JSON.parse(body || "{}").name });
    }
    const m = /^\/api\/projects\/(\d+)\/events$/.exec(req.url ?? "");
    if (req.method === "POST" && m) {
      const { event, data } = JSON.parse(body);
      io.to(`project_${m[1]}`).emit(event, data);
      return reply(200, { event, delivered: io.sockets.adapter.rooms.get(`project_${m[1]}`)?.size ?? 0 });
    }
    reply(404, { error: { code: "not_found", message: "no such route" } });
  });
});

const io = new Server(http, { transports: ["websocket", "polling"] });
io.on("connection", (socket) => {
  socket.emit("connection_status", { status: "connected", sid: socket.id, server_time: Date.now(), user_id: null });
  socket.on("ping", (payload) => socket.emit("pong", { timestamp: payload?.timestamp ?? Date.now(), server_time: Date.now() }));
  socket.on("join_project", (payload, ack) => {
    for (const room of socket.rooms) if (room.startsWith("project_")) socket.leave(room);
    socket.join(`project_${payload.project_id}`);
    socket.emit("project_joined", { project_id: payload.project_id });
    if (typeof ack === "function") ack({ ok: true, project_id: payload.project_id });
  });
});

http.listen(Number(process.env.PORT ?? 8100), "127.0.0.1", () => console.log(`node peer on ${process.env.PORT ?? 8100}`));
