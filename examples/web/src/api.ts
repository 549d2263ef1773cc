// The HTTP API (PROTOCOL §6), typed for the page.

export type Project = { id: number; name: string };
export type Chat = { id: number; project_id: number; title: string; assistant: "on" | "off" };
export type Sender = { user_id: string | null; name: string | null };
export type Member = { user_id: string | null; name: string | null; public_id: string | null; connections: number; since: string };
export type Doc = { id: number; filename: string; status: string; progress: number; error: string | null };
export type Source = {
  id: number;
  content: string;
  metadata: { document_id: number; filename: string; page: number | null; chunk_index: number };
  score: number;
};
export type StoredMessage = {
  id: number;
  chat_id: number;
  role: "user" | "assistant" | "system";
  sender: Sender | null;
  content: string;
  status: string;
  sources: Source[];
  client_message_id: string | null;
};

/** A token given in the page's address (`?token=…`), for `--auth jwt`. */
export const token = new URLSearchParams(location.search).get("token");

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const init: RequestInit = { method, headers };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    headers["content-type"] = "application/json";
  }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data?.error?.message ?? `${method} ${path}: ${res.status}`);
  return data as T;
}

export const api = {
  projects: () => call<Project[]>("GET", "/api/projects"),
  createProject: (name: string) => call<Project>("POST", "/api/projects", { name }),
  documents: (projectId: number) => call<Doc[]>("GET", `/api/projects/${projectId}/documents`),
  upload: (projectId: number, file: File) => {
    const form = new FormData();
    form.append("file", file, file.name);
    return call<{ id: number; status: string }>("POST", `/api/projects/${projectId}/documents`, form);
  },
  chats: (projectId: number) => call<Chat[]>("GET", `/api/projects/${projectId}/chats`),
  createChat: (projectId: number, title: string) => call<Chat>("POST", `/api/projects/${projectId}/chats`, { title }),
  messages: (chatId: number) => call<StoredMessage[]>("GET", `/api/chats/${chatId}/messages?limit=1000`),
  setAssistant: (chatId: number, assistant: "on" | "off") => call<Chat>("PATCH", `/api/chats/${chatId}`, { assistant }),
};
