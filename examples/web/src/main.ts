// The ragcast browser client: one socket, project rooms, uploads with live progress, chats with
// streamed, sourced answers, and a resume after any dropped connection.

import { io } from "socket.io-client";
import { api, token, type Chat, type Doc, type Member, type Project, type Source, type StoredMessage } from "./api";
import { Reply, type Snapshot } from "./reply";
import "./style.css";

const $ = <T extends HTMLElement>(selector: string) => document.querySelector<T>(selector)!;

const socket = io({ reconnectionDelay: 300, reconnectionDelayMax: 2000, auth: token ? { token } : {} });
// For the browser tests (and curious people in the console).
(window as unknown as { ragcast: unknown }).ragcast = { socket };

const state = {
  projectId: null as number | null,
  chatId: null as number | null,
  replies: new Map<number, Reply>(),
  typing: new Map<string, number>(),
  /// This socket as the server told it (`connection_status`).
  me: { userId: null as string | null, publicId: null as string | null },
  chats: new Map<number, Chat>(),
  people: [] as Member[],
  /// The project being joined (its `presence` arrives before the ack).
  joining: null as number | null,
};

socket.on("connection_status", (s: { user_id: string | null; public_id: string }) => {
  state.me = { userId: s.user_id, publicId: s.public_id };
});

// ---- connection indicator -------------------------------------------------------------------

function showConnection(text: string, kind: "ok" | "warn" | "down") {
  const badge = $("#connection");
  badge.textContent = text;
  badge.className = `badge ${kind}`;
}

socket.on("connect", () => {
  showConnection(`connected · ${socket.io.engine.transport.name}`, "ok");
  socket.io.engine.once("upgrade", (transport: { name: string }) =>
    showConnection(`connected · ${transport.name}`, "ok"),
  );
  rejoinAndResume();
});
socket.on("disconnect", (reason) => {
  showConnection("disconnected", "down");
  // The server disconnects a client that fell too far behind (its buffer overflowed), and
  // socket.io-client does not retry a disconnect the server chose: come back and resume.
  if (reason === "io server disconnect") window.setTimeout(() => socket.connect(), 300);
});
socket.io.on("reconnect_attempt", (n) => showConnection(`reconnecting… (${n})`, "warn"));

/** After a (re)connect: back into the project room, and every unfinished reply resumed. */
async function rejoinAndResume() {
  if (state.projectId == null) return;
  state.joining = state.projectId;
  await socket.emitWithAck("join_project", { project_id: state.projectId });
  state.joining = null;
  for (const reply of state.replies.values()) {
    if (reply.complete) continue;
    const after = reply.lastIndex();
    reply.resumedAfter = after;
    // Compact: one `message_snapshot` with everything missed, then the live tail.
    socket.emit("resume_message", after == null ? { message_id: reply.messageId, compact: true } : { message_id: reply.messageId, after_index: after, compact: true });
  }
}

function notice(text: string) {
  const el = $("#notice");
  el.textContent = text;
  window.setTimeout(() => el.textContent === text && (el.textContent = ""), 8000);
}

socket.on("error", (e: { code: string; message: string; event: string }) => notice(`${e.event}: ${e.message} (${e.code})`));

// ---- projects ------------------------------------------------------------------------------

async function loadProjects() {
  const projects = await api.projects();
  $("#projects").innerHTML = "";
  for (const p of projects) addProject(p);
}

function addProject(p: Project) {
  const li = document.createElement("li");
  li.textContent = p.name;
  li.dataset.projectId = String(p.id);
  li.dataset.testid = "project";
  li.onclick = () => selectProject(p.id);
  $("#projects").append(li);
}

$("#new-project").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target as HTMLFormElement;
  const input = form.elements.namedItem("name") as HTMLInputElement;
  const project = await api.createProject(input.value);
  input.value = "";
  addProject(project);
  await selectProject(project.id);
});

async function selectProject(projectId: number) {
  // Its `presence` comes before the ack.
  state.joining = projectId;
  const ack = await socket.emitWithAck("join_project", { project_id: projectId });
  state.joining = null;
  if (!ack.ok) return notice(ack.error.message);
  state.projectId = projectId;
  state.chatId = null;
  for (const li of document.querySelectorAll<HTMLElement>("#projects li"))
    li.classList.toggle("active", li.dataset.projectId === String(projectId));
  $("#documents-panel").hidden = false;
  $("#chats-panel").hidden = false;
  $("#people-panel").hidden = false;
  $("#chat-bar").hidden = true;
  $("#composer").hidden = true;
  $("#messages").innerHTML = `<p class="hint">Pick or create a chat.</p>`;
  $("#documents").innerHTML = "";
  for (const doc of await api.documents(projectId)) showDocument(doc);
  $("#chats").innerHTML = "";
  for (const chat of await api.chats(projectId)) addChat(chat);
}

// ---- documents -----------------------------------------------------------------------------

function documentRow(id: number, filename: string): HTMLElement {
  let row = document.querySelector<HTMLElement>(`#documents li[data-document-id="${id}"]`);
  if (!row) {
    row = document.createElement("li");
    row.dataset.documentId = String(id);
    row.dataset.testid = "document";
    row.innerHTML = `<span class="name"></span><progress max="100" value="0"></progress><span class="state"></span>`;
    row.querySelector(".name")!.textContent = filename;
    $("#documents").append(row);
  }
  return row;
}

const SETTLED = ["completed", "failed"];

function showDocument(doc: Pick<Doc, "id" | "filename" | "status" | "progress" | "error">) {
  const row = documentRow(doc.id, doc.filename);
  // Events can overtake the upload's own answer: never step back from a later state.
  const settled = SETTLED.includes(row.dataset.status ?? "");
  if ((settled && !SETTLED.includes(doc.status)) || doc.progress < Number(row.dataset.progress ?? 0)) return;
  row.dataset.progress = String(doc.progress);
  const bar = row.querySelector("progress")!;
  bar.value = doc.progress;
  row.dataset.status = doc.status;
  row.querySelector(".state")!.textContent = doc.status === "failed" ? `failed: ${doc.error}` : `${doc.status} ${doc.progress}%`;
}

type DocumentStatus = { project_id: number; document_id: number; filename: string; status: string; progress: number; error?: string };
socket.on("document_status", (s: DocumentStatus) => {
  if (s.project_id !== state.projectId) return;
  showDocument({ id: s.document_id, filename: s.filename, status: s.status, progress: s.progress, error: s.error ?? null });
});

async function uploadAll(files: FileList | File[]) {
  if (state.projectId == null) return;
  for (const file of Array.from(files)) {
    try {
      const { id } = await api.upload(state.projectId, file);
      showDocument({ id, filename: file.name, status: "queued", progress: 0, error: null });
    } catch (e) {
      notice(`${file.name}: ${(e as Error).message}`);
    }
  }
}

const dropzone = $("#dropzone");
dropzone.addEventListener("dragover", (e) => {
  e.preventDefault();
  dropzone.classList.add("over");
});
dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
dropzone.addEventListener("drop", (e) => {
  e.preventDefault();
  dropzone.classList.remove("over");
  if (e.dataTransfer?.files) uploadAll(e.dataTransfer.files);
});
$<HTMLInputElement>("#file-input").addEventListener("change", (e) => {
  const input = e.target as HTMLInputElement;
  if (input.files) uploadAll(input.files);
  input.value = "";
});

// ---- chats ---------------------------------------------------------------------------------

function addChat(chat: Chat) {
  state.chats.set(chat.id, chat);
  if (document.querySelector(`#chats li[data-chat-id="${chat.id}"]`)) return;
  const li = document.createElement("li");
  li.textContent = chat.title;
  li.dataset.chatId = String(chat.id);
  li.dataset.testid = "chat";
  li.onclick = () => selectChat(chat.id);
  $("#chats").append(li);
}

$("#new-chat").addEventListener("click", async () => {
  if (state.projectId == null) return;
  const chat = await api.createChat(state.projectId, `Chat ${new Date().toLocaleTimeString()}`);
  addChat(chat);
  await selectChat(chat.id);
});

socket.on("project_update", (u: { project_id: number; type: string; data: Chat & { chat_id: number } }) => {
  if (u.project_id !== state.projectId) return;
  if (u.type === "chat_created") addChat(u.data);
  if (u.type === "chat_updated") {
    const chat = state.chats.get(u.data.chat_id);
    if (chat) chat.assistant = u.data.assistant;
    if (u.data.chat_id === state.chatId) showTakeover();
  }
});

// ---- a person takes over ---------------------------------------------------------------------

function showTakeover() {
  const chat = state.chatId == null ? undefined : state.chats.get(state.chatId);
  $("#chat-bar").hidden = !chat;
  if (!chat) return;
  const off = chat.assistant === "off";
  $("#takeover-state").textContent = off ? "A person is answering in this chat" : "The assistant answers in this chat";
  $("#takeover").textContent = off ? "Hand back" : "Take over";
}

$("#takeover").addEventListener("click", async () => {
  const chat = state.chatId == null ? undefined : state.chats.get(state.chatId);
  if (!chat) return;
  try {
    const updated = await api.setAssistant(chat.id, chat.assistant === "off" ? "on" : "off");
    chat.assistant = updated.assistant;
    showTakeover();
  } catch (e) {
    notice((e as Error).message);
  }
});

// ---- who is here -----------------------------------------------------------------------------

const memberKey = (m: Member) => m.user_id ?? m.public_id ?? "";

function renderPeople() {
  const list = $("#people");
  list.innerHTML = "";
  for (const m of state.people) {
    const li = document.createElement("li");
    li.dataset.testid = "person";
    const mine = m.user_id ? m.user_id === state.me.userId : m.public_id === state.me.publicId;
    li.textContent = `${m.name ?? m.user_id ?? `guest ${(m.public_id ?? "").slice(0, 6)}`}${mine ? " (you)" : ""}`;
    if (m.connections > 1) {
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = `×${m.connections}`;
      li.append(count);
    }
    list.append(li);
  }
}

socket.on("presence", (p: { project_id: number; members: Member[] }) => {
  if (p.project_id !== state.projectId && p.project_id !== state.joining) return;
  state.people = p.members;
  renderPeople();
});
socket.on("presence_changed", (c: { project_id: number; member: Member; status: "joined" | "left" }) => {
  if (c.project_id !== state.projectId) return;
  state.people = state.people.filter((m) => memberKey(m) !== memberKey(c.member));
  if (c.status === "joined") state.people.push(c.member);
  renderPeople();
});

async function selectChat(chatId: number) {
  state.chatId = chatId;
  for (const li of document.querySelectorAll<HTMLElement>("#chats li"))
    li.classList.toggle("active", li.dataset.chatId === String(chatId));
  const messages = $("#messages");
  messages.innerHTML = "";
  for (const m of await api.messages(chatId)) {
    if (m.role !== "assistant") messages.append(personMessage(m));
    else {
      const live = state.replies.get(m.id);
      const reply = live ?? Reply.stored(m.id, chatId, m.content, m.status, m.sources as Source[]);
      state.replies.set(m.id, reply);
      messages.append(reply.el);
    }
  }
  $("#composer").hidden = false;
  showTakeover();
  updateStop();
}

/** A person's question or answer, or a back end's notice, with who wrote it. */
function personMessage(m: Pick<StoredMessage, "id" | "role" | "sender" | "content" | "client_message_id">): HTMLElement {
  const el = document.createElement("article");
  if (m.role === "system") {
    el.className = "message system";
    el.dataset.testid = "notice-message";
    el.textContent = m.content;
  } else {
    const mine = m.sender?.user_id != null ? m.sender.user_id === state.me.userId : pending.has(m.client_message_id ?? "");
    el.className = `message user ${mine ? "mine" : "other"}`;
    el.dataset.testid = "question";
    const who = document.createElement("span");
    who.className = "sender";
    who.dataset.testid = "sender";
    who.textContent = mine ? "You" : m.sender?.name ?? m.sender?.user_id ?? "Someone";
    el.append(who, document.createTextNode(m.content));
  }
  el.dataset.messageId = String(m.id);
  if (m.client_message_id) el.dataset.clientId = m.client_message_id;
  return el;
}

/** Questions this page sent and shows already (their `message_created` confirms them). */
const pending = new Set<string>();

socket.on("message_created", (c: { chat_id: number; message: StoredMessage }) => {
  if (c.chat_id !== state.chatId) return;
  if (document.querySelector(`#messages [data-message-id="${c.message.id}"]`)) return;
  const optimistic = c.message.client_message_id
    ? document.querySelector<HTMLElement>(`#messages [data-client-id="${c.message.client_message_id}"]`)
    : null;
  const el = personMessage(c.message);
  if (optimistic) optimistic.replaceWith(el);
  else $("#messages").append(el);
});

// ---- the stream ----------------------------------------------------------------------------

/** The reply of `message_id`, shown if it belongs to the open chat. */
function replyFor(chatId: number, messageId: number): Reply {
  let reply = state.replies.get(messageId);
  if (!reply) {
    reply = new Reply(messageId, chatId);
    state.replies.set(messageId, reply);
  }
  if (chatId === state.chatId && !reply.el.isConnected) $("#messages").append(reply.el);
  return reply;
}

type Received = { chat_id: number; message_id: number; user_message_id: number };
socket.on("message_received", (r: Received) => replyFor(r.chat_id, r.message_id) && updateStop());
socket.on("message_sources", (s: { chat_id: number; message_id: number; sources: Source[] }) =>
  replyFor(s.chat_id, s.message_id).setSources(s.sources),
);
type Piece = { chat_id: number; message_id: number; token: string; index: number; from_index?: number };
socket.on("message_token", (t: Piece) => replyFor(t.chat_id, t.message_id).token(t.index, t.token, t.from_index));
socket.on("message_reasoning", (t: Piece) => replyFor(t.chat_id, t.message_id).reason(t.index, t.token, t.from_index));
socket.on("message_snapshot", (s: Snapshot) => {
  const reply = replyFor(s.chat_id, s.message_id);
  reply.snapshot(s, reply.resumedAfter);
});
type Complete = { chat_id: number; message_id: number; content: string; metadata: { tokens: number; finish_reason: string; first_token_ms: number | null; duration_ms: number } };
socket.on("message_complete", (c: Complete) => {
  replyFor(c.chat_id, c.message_id).finish(c.content, c.metadata);
  updateStop();
});

function liveReplies(): Reply[] {
  return [...state.replies.values()].filter((r) => !r.complete && r.chatId === state.chatId);
}

function updateStop() {
  $("#stop").hidden = liveReplies().length === 0;
}

$("#stop").addEventListener("click", () => {
  for (const reply of liveReplies()) socket.emit("cancel_message", { message_id: reply.messageId });
});

const composer = $<HTMLFormElement>("#composer");
const textarea = composer.elements.namedItem("message") as HTMLTextAreaElement;
let typingSince = 0;

composer.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = textarea.value.trim();
  if (!text || state.chatId == null) return;
  textarea.value = "";
  stopTyping();
  const clientId = crypto.randomUUID();
  pending.add(clientId);
  $("#messages").append(personMessage({ id: 0, role: "user", sender: null, content: text, client_message_id: clientId }));
  const ack = await socket.emitWithAck("send_message", {
    chat_id: state.chatId,
    message: text,
    client_message_id: clientId,
    // A repeat (a retried send) is answered with one snapshot, not the tokens one by one.
    compact: true,
  });
  if (!ack.ok) notice(ack.error.message);
});

textarea.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) {
    e.preventDefault();
    composer.requestSubmit();
  }
});

textarea.addEventListener("input", () => {
  if (state.chatId == null) return;
  if (Date.now() - typingSince > 2000) {
    typingSince = Date.now();
    socket.emit("typing_start", { chat_id: state.chatId });
  }
});
textarea.addEventListener("blur", stopTyping);

function stopTyping() {
  if (typingSince && state.chatId != null) socket.emit("typing_stop", { chat_id: state.chatId });
  typingSince = 0;
}

socket.on("typing", (t: { chat_id: number; sid: string; user_id: string | null; typing: boolean }) => {
  if (t.chat_id !== state.chatId) return;
  if (t.typing) state.typing.set(t.sid, Date.now());
  else state.typing.delete(t.sid);
  renderTyping();
});

function renderTyping() {
  const now = Date.now();
  for (const [sid, at] of state.typing) if (now - at > 6000) state.typing.delete(sid);
  const n = state.typing.size;
  $("#typing").textContent = n === 0 ? "" : n === 1 ? "Someone is typing…" : `${n} people are typing…`;
}
window.setInterval(renderTyping, 2000);

loadProjects().catch((e) => notice(String(e)));
