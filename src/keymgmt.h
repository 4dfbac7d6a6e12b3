/*-------------------------------------------------------------------------
 *
 * keymgmt.h
 *	  Shared declarations of the keymgmt extension.
 *
 * token.c   parses, hashes, masks and generates keys (no database access)
 * keymgmt.c module load, settings, actor, SPI and result helpers
 * keys.c    the SQL-callable changes: generate, block, unblock, delete, info
 * authority.c who may change which key; grant_admin and revoke_admin
 * verify.c  verify_key, the read-only hot path
 * notify.c  cache-invalidation notifications
 *
 *-------------------------------------------------------------------------
 */
#ifndef KEYMGMT_H
#define KEYMGMT_H

#include "postgres.h"

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

typedef struct ParsedKey
{
	bool		is_raw;			/* raw key (a credential) or a token */
	char		token[KEYMGMT_TOKEN_LEN + 1];
	char		display[KEYMGMT_DISPLAY_LEN];	/* safe to put in a message */
} ParsedKey;

/* Who is acting, and whether they said so (argument or keymgmt.actor). */
typedef struct Actor
{
	char	   *name;			/* for the audit log; never NULL */
	bool		given;			/* false: fell back to the session user */
} Actor;

/* The scope of a locked key row, for the authority check. */
typedef struct KeyScope
{
	char	   *user_id;		/* NULL when the column is NULL */
	char	   *team_id;
	char	   *organization_id;
} KeyScope;

/* token.c */
extern bool KeyIsRawForm(const char *s, size_t len);
extern bool KeyParse(const char *s, size_t len, ParsedKey *out);
extern void KeyHash(const char *raw, size_t len, char *token);
extern void KeyName(const char *raw, size_t len, char *name);
extern char *KeyGenerate(void);

/* keymgmt.c */
extern char *keymgmt_actor;
extern bool keymgmt_notify;
extern bool keymgmt_require_actor;

extern bool KeyArgumentParses(FunctionCallInfo fcinfo, int argno, ParsedKey *out);
extern void ParseKeyArgument(FunctionCallInfo fcinfo, int argno, ParsedKey *out);
extern void ResolveActor(FunctionCallInfo fcinfo, int argno, Actor *actor);
extern void CheckNotRawKey(const char *what, const char *value);
extern char *NameForMessage(const char *name);
extern char *CallerRoleName(void);
extern SPIPlanPtr KeptPlan(SPIPlanPtr *cache, const char *sql,
						   int nargs, Oid *argtypes);
extern void CheckOneRowContext(FunctionCallInfo fcinfo);
extern void ReturnOneRow(FunctionCallInfo fcinfo, Datum *values, bool *nulls);
extern void ReportKeyNotFound(const ParsedKey *key) pg_attribute_noreturn();

/* authority.c */
extern void RequireActor(const Actor *actor, const char *what);
extern void CheckAuthority(const Actor *actor, const char *verb, bool owner_may,
						   const ParsedKey *key, const KeyScope *scope);

/* notify.c */
extern void NotifyKeyChange(const char *action, const char *token);
extern void NotifyAdminChange(const char *action, const char *user_id);

#endif							/* KEYMGMT_H */
