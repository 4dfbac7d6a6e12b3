/*-------------------------------------------------------------------------
 *
 * keymgmt.h
 *	  Shared declarations of the keymgmt extension.
 *
 * token.c   parses, hashes, masks and generates keys (no database access)
 * keymgmt.c module load, settings, actor, SPI and result helpers
 * keys.c    the SQL-callable changes: generate, block, unblock, delete, info
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

/* token.c */
extern bool KeyParse(const char *s, size_t len, ParsedKey *out);
extern void KeyHash(const char *raw, size_t len, char *token);
extern void KeyName(const char *raw, size_t len, char *name);
extern char *KeyGenerate(void);

/* keymgmt.c */
extern char *keymgmt_actor;
extern bool keymgmt_notify;

extern void ParseKeyArgument(FunctionCallInfo fcinfo, int argno, bool raw_only,
							 ParsedKey *out);
extern char *ResolveActor(FunctionCallInfo fcinfo, int argno);
extern char *CallerRoleName(void);
extern SPIPlanPtr KeptPlan(SPIPlanPtr *cache, const char *sql,
						   int nargs, Oid *argtypes);
extern void ReturnOneRow(FunctionCallInfo fcinfo, Datum *values, bool *nulls);
extern void ReportKeyNotFound(const ParsedKey *key) pg_attribute_noreturn();

/* notify.c */
extern void NotifyKeyChange(const char *action, const char *token);

#endif							/* KEYMGMT_H */
