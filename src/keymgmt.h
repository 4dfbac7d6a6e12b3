/*-------------------------------------------------------------------------
 *
 * keymgmt.h
 *	  Shared declarations of the keymgmt extension.
 *
 * token.c     parses, hashes, masks and generates keys (no database access)
 * names.c     the limits on caller-supplied names and ids; clipping them
 *             for messages
 * caller.c    the calling role, and running as the extension's owner
 * actor.c     who is acting: the actor, roles that must name one
 *             (set_actor_required)
 * authority.c who may change, create or grant what; grant_admin and
 *             revoke_admin
 * keys.c      the SQL-callable changes: generate, block, unblock, delete, info
 * verify.c    verify_key, the read-only hot path
 * notify.c    cache-invalidation notifications
 * keymgmt.c   module load, settings, SPI and result helpers
 * compat.h    every difference between PostgreSQL 13 and 18
 *
 *-------------------------------------------------------------------------
 */
#ifndef KEYMGMT_H
#define KEYMGMT_H

#include "postgres.h"

#include "compat.h"
#include "executor/spi.h"
#include "fmgr.h"

/* lowercase hex SHA-256: the only form of a key that is ever stored */
#define KEYMGMT_TOKEN_LEN		64
/* "sk-" followed by 1 to 252 characters of [A-Za-z0-9_-] */
#define KEYMGMT_RAW_PREFIX		"sk-"
#define KEYMGMT_RAW_MAX_LEN		255
/* bytes of pg_strong_random() in a generated key: 256 bits */
#define KEYMGMT_RANDOM_BYTES	32
/* longest form of a key that may appear in a message: "sk-...abcd" or
 * the first 12 hex digits of a token followed by "..." */
#define KEYMGMT_DISPLAY_LEN		16
/* "sk-" followed by this many key characters inside a value is a raw key */
#define KEYMGMT_EMBEDDED_MIN	20
/* longest actor, user, team, organization, alias: in characters */
#define KEYMGMT_NAME_MAX_CHARS	255
/* most characters of a caller's value that a message repeats */
#define KEYMGMT_MESSAGE_CHARS	64

typedef struct ParsedKey
{
	bool		is_raw;			/* raw key (a credential) or a token */
	char		token[KEYMGMT_TOKEN_LEN + 1];
	char		display[KEYMGMT_DISPLAY_LEN];	/* safe to put in a message */
} ParsedKey;

/*
 * Who called a keymgmt function, captured on entry, before it switches to
 * the extension owner's rights.
 */
typedef struct Caller
{
	Oid			role;			/* current_user at the call: audit db_role */
	bool		restricted;		/* in a security-restricted operation */
	Oid			save_userid;	/* restored by CallerLeave */
	int			save_sec_context;
} Caller;

/* Who is acting, and whether they said so (argument or keymgmt.actor). */
typedef struct Actor
{
	char	   *name;			/* for the audit log; never NULL */
	bool		given;			/* false: fell back to the calling role */
} Actor;

/*
 * The scope of a key (the locked row, or the one about to be created), or
 * of an admin grant (user_id NULL), for the authority check.
 */
typedef struct KeyScope
{
	char	   *user_id;		/* NULL when the column is NULL */
	char	   *team_id;
	char	   *organization_id;
} KeyScope;

/* token.c */
extern bool KeyIsRawForm(const char *s, size_t len);
extern bool KeyIsEmbedded(const char *s, size_t len);
extern bool KeyParse(const char *s, size_t len, ParsedKey *out);
extern void KeyHash(const char *raw, size_t len, char *token);
extern void KeyName(const char *raw, size_t len, char *name);
extern char *KeyGenerate(void);

/* names.c */
extern void CheckName(const char *what, const char *value);
extern char *NameArgument(FunctionCallInfo fcinfo, int argno, const char *what);
extern char *ClipForMessage(const char *value);

/* caller.c */
extern void CallerEnter(FunctionCallInfo fcinfo, Caller *caller);
extern void CallerLeave(Caller *caller);
extern char *CallerRoleName(const Caller *caller);
extern Oid	KeptRelation(Oid *slot, const char *relname, bool missing_ok,
						 bool *fresh);
extern Oid	KeysTableOwner(void);

/* actor.c */
extern char *keymgmt_actor;
extern bool keymgmt_require_actor;

extern void ResolveActor(FunctionCallInfo fcinfo, int argno,
						 const Caller *caller, Actor *actor);
extern void RequireActor(const Actor *actor, const Caller *caller,
						 const char *what);

/* authority.c */
extern void CheckAuthority(const Actor *actor, const Caller *caller,
						   const char *verb, bool owner_may,
						   const ParsedKey *key, const KeyScope *scope);
extern void CheckCreateAuthority(const Actor *actor, const Caller *caller,
								 const char *what, const KeyScope *scope);

/* keymgmt.c */
extern bool keymgmt_notify;

extern bool KeyArgumentParses(FunctionCallInfo fcinfo, int argno, ParsedKey *out);
extern void ParseKeyArgument(FunctionCallInfo fcinfo, int argno, ParsedKey *out);
extern SPIPlanPtr KeptPlan(SPIPlanPtr *cache, const char *sql,
						   int nargs, Oid *argtypes);
extern void CheckOneRowContext(FunctionCallInfo fcinfo);
extern void ReturnOneRow(FunctionCallInfo fcinfo, Datum *values, bool *nulls);
pg_noreturn extern void ReportKeyNotFound(const ParsedKey *key);

/* notify.c */
extern void NotifyKeyChange(const char *action, const char *token);
extern void NotifyAdminChange(const char *action, const char *user_id);

#endif							/* KEYMGMT_H */
