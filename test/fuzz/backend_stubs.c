/*-------------------------------------------------------------------------
 *
 * backend_stubs.c
 *	  The few backend symbols src/token.c needs, so that it links into a
 *	  standalone libFuzzer binary.
 *
 * token.c is compiled as backend code (it includes postgres.h); the rest of
 * what it calls (pg_cryptohash_*, pg_b64_*, pg_strong_random, strlcpy,
 * pg_snprintf) comes from the frontend libpgcommon.a and libpgport.a that
 * Debian ships.  Nothing in KeyParse, KeyHash or KeyName may raise an
 * error on any input, so every ereport/elog entry point here aborts: the
 * fuzzer reports it as a crash, with the stack that led to it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <stdio.h>
#include <stdlib.h>

#include "utils/builtins.h"

/*
 * ReachedErrorReport
 *	  Any ereport or elog reached while fuzzing is a bug: abort loudly.
 */
static void
ReachedErrorReport(const char *where, int elevel)
{
	fprintf(stderr, "fuzz_key: %s reached (elevel %d): token.c raised an error\n",
			where, elevel);
	abort();
}

bool
errstart(int elevel, const char *domain)
{
	ReachedErrorReport("errstart", elevel);
	return false;
}

bool
errstart_cold(int elevel, const char *domain)
{
	ReachedErrorReport("errstart_cold", elevel);
	return false;
}

void
errfinish(const char *filename, int lineno, const char *funcname)
{
	fprintf(stderr, "fuzz_key: errfinish at %s:%d (%s)\n",
			filename ? filename : "?", lineno, funcname ? funcname : "?");
	abort();
}

/* unreachable, since errstart aborts first; here so that token.o links */
int
errcode(int sqlerrcode)
{
	abort();
}

int
errmsg(const char *fmt,...)
{
	abort();
}

int
errmsg_internal(const char *fmt,...)
{
	abort();
}

/*
 * palloc, pfree
 *	  Plain malloc and free.  Only KeyGenerate allocates; the harness frees
 *	  what it returns.
 */
void *
palloc(Size size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
		ReachedErrorReport("palloc (out of memory)", ERROR);
	return p;
}

void
pfree(void *pointer)
{
	free(pointer);
}

/*
 * hex_encode
 *	  Lowercase hex of len bytes into dst, not terminated; returns 2 * len.
 *	  The same contract as the backend's utils/adt/encode.c.
 */
uint64
hex_encode(const char *src, size_t len, char *dst)
{
	static const char digits[] = "0123456789abcdef";
	size_t		i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) src[i];

		dst[2 * i] = digits[c >> 4];
		dst[2 * i + 1] = digits[c & 0xf];
	}
	return (uint64) len * 2;
}
