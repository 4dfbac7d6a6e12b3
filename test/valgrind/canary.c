/*
 * canary.c
 *	  The positive control of test/valgrind/run.sh: a function that makes
 *	  the memory errors the run is meant to catch, on purpose, in one
 *	  backend of the same server, after the suites.
 *
 * Its backend must show each of them in the valgrind log, attributed the
 * way scan.py attributes keymgmt's own errors; if one is missing, the run
 * fails: a check that cannot see a planted error proves nothing.
 *
 *   - KeyParse (keymgmt.so) reading past a malloc'd block: an invalid read
 *     whose top frame is in keymgmt.so;
 *   - KeyParse deciding on bytes nobody wrote: a use of an uninitialised
 *     value in keymgmt.so;
 *   - KeyHash (keymgmt.so) hashing past a malloc'd block: the invalid read
 *     is in libcrypto, with keymgmt.so further down the stack ("code it
 *     calls on our behalf with our arguments");
 *   - a malloc'd block dropped here: a definite leak, reported when the
 *     backend exits.
 *
 * The keymgmt functions are looked up by name in the installed library, so
 * the frames are those of the very keymgmt.so the suites ran.  Never
 * installed; run.sh builds it in its scratch directory and creates the
 * function there.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

PG_MODULE_MAGIC;

typedef bool (*KeyParseFn) (const char *s, size_t len, void *out);
typedef void (*KeyHashFn) (const char *raw, size_t len, char *token);

PG_FUNCTION_INFO_V1(keymgmt_vg_canary);

Datum
keymgmt_vg_canary(PG_FUNCTION_ARGS)
{
	KeyParseFn	key_parse;
	KeyHashFn	key_hash;
	char		out[1024];		/* larger than any ParsedKey */
	char		token[128];
	char	   *short_key;
	char	   *unwritten;
	char	   *lost;
	volatile bool r1;
	volatile bool r2;

	key_parse = (KeyParseFn) load_external_function("$libdir/keymgmt",
													"KeyParse", true, NULL);
	key_hash = (KeyHashFn) load_external_function("$libdir/keymgmt",
												  "KeyHash", true, NULL);

	/* 8 bytes, parsed as if they were 40: reads past the block */
	short_key = malloc(8);
	memcpy(short_key, "sk-abcde", 8);
	r1 = key_parse(short_key, 40, out);

	/* "sk-" and 37 bytes never written */
	unwritten = malloc(40);
	memcpy(unwritten, "sk-", 3);
	r2 = key_parse(unwritten, 40, out);

	/* 8 bytes hashed as if they were 200: libcrypto reads past the block */
	key_hash(short_key, 200, token);

	free(short_key);
	free(unwritten);

	/* no pointer to it survives this function */
	lost = malloc(77);
	memset(lost, 'x', 77);
	lost = NULL;

	PG_RETURN_TEXT_P(cstring_to_text(r1 || r2 ? "parsed" : "refused"));
}
