// The HTTP API (PROTOCOL §6), typed for the page.

export type Project = { id: number; name: string };
export type Chat = { id: number; project_id: number; title: string };
export type Doc = { id: number; filename: string; status: string; progress: number; error: string | null };
export type Source = {
  id: number;
  content: string;
  metadata: { document_id: number; filename: string; page: number | null; chunk_index: number };
  score: number;
};
export type StoredMessage = {
  id: number;
  role: "user" | "assistant";
  content: string;
  status: string;
  sources: Source[];
};

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "content-type": "application/json" };
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
};
