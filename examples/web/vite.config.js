// `npm run dev` proxies the API and Socket.IO to a ragcast on :8000; `npm run build` writes dist/,
// which ragcast serves at `/`.
export default {
  server: {
    proxy: {
      "/api": "http://127.0.0.1:8000",
      "/socket.io": { target: "ws://127.0.0.1:8000", ws: true },
    },
  },
};
