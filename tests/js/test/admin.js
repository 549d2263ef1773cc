// The Admin UI's login in the tests.

/** bcrypt of ADMIN_PASSWORD (cost 10), as `--admin-password-hash` takes it. */
export const ADMIN_HASH = "$2a$10$XcQmEp3C5W9d8vBwUTdaVe/QNj6XRq4tg3z5nYWjUiAFFkkmWljvW";
export const ADMIN_PASSWORD = "ragcast-admin-pw";
/** The same password at bcrypt's cost 12 (about 0.4 CPU-seconds a check), as deployments use. */
export const ADMIN_HASH_COST_12 = "$2b$12$e9mXgj78dhtPLTB4r9znxOxr2S8CYarux/grOg.KDMvfLdUzKGCU.";
