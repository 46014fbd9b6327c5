/* The cleaner's near-duplicate removal in C: `bot.content.near_duplicates.dedupe`, same output.
 *
 * The Python deduper (`near_duplicates._dedupe_python`, the reference) spends its time building
 * and intersecting sets of 3- and 5-character strings, counting postings in a Counter, and
 * splitting blocks into sentences. Here a shingle is its three code points packed into one 64-bit
 * integer (21 bits each, exact: no hashing, so two shingles are equal exactly when their strings
 * are), a 5-gram is two such integers, a set of them is a sorted array without repeats, and an
 * intersection is a merge; `sentence_pieces` is sentences.py's, rewritten below. `fold` (NFKC and
 * casefold) stays in Python and is called back. It and the sentence splitter are passed in on
 * every call, with the `Raw` class and the `_DROPPED` sentinel, so the module holds no state of
 * its own (pool workers, threads and subinterpreters may all call it at once). The sets of whole
 * strings (texts, keys, sentences) are Python sets, so their equality is str equality.
 *
 * tests/bot/content/test_near_duplicates_native.py compares it with the reference on every
 * sample post, on varied copies of them and on generated blocks, and `sentence_pieces` with
 * sentences.py's. The constants below are those of near_duplicates.py and sentences.py;
 * `CONSTANTS` exposes them so that test can check they still agree.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define SHINGLE 3
#define MIN_SENTENCE_CHARS 15
#define MAX_POSTING 12
#define MIN_SAMPLE 12
#define JACCARD_DUP 0.8
#define CONTAIN_DUP 0.9
#define MIN_DUP_CHARS 12
#define GRAM 5
#define NOVEL_SHARE 0.5
/* The characters near_duplicates._ANCHORED_SHINGLES samples after: のはをにがでともへやる, e, o */
#define PARTICLES "\u306e\u306f\u3092\u306b\u304c\u3067\u3068\u3082\u3078\u3084\u308b" "eo"

/* --- packed shingles and 5-grams ---------------------------------------------------------------- */

/* A key of at most three characters is its own only shingle (`all_shingles`). Three of them pack
 * like any shingle; shorter ones set the top bit (never set by three 21-bit code points) and carry
 * their length, so "ab" is never "ab\0". */
#define SHORT_MARK ((uint64_t)1 << 63)
#define NO_SHINGLE UINT64_MAX /* an empty slot of the postings table: no packing gives it */

static uint64_t
pack3(const Py_UCS4 *c)
{
    return ((uint64_t)c[0] << 42) | ((uint64_t)c[1] << 21) | (uint64_t)c[2];
}

static uint64_t
pack_short(const Py_UCS4 *c, Py_ssize_t len) /* len < 3 */
{
    uint64_t packed = SHORT_MARK | ((uint64_t)len << 42);
    if (len > 0) {
        packed |= (uint64_t)c[0] << 21;
    }
    if (len > 1) {
        packed |= (uint64_t)c[1];
    }
    return packed;
}

typedef struct {
    uint64_t *items; /* ascending, no repeats: a set */
    Py_ssize_t n;
} ShingleSet;

/* A 5-gram: its first three code points in `head`, the last two in `tail`; a key of fewer than
 * five characters (its own only gram) marks `tail` with its length, as for shingles. */
typedef struct {
    uint64_t head, tail;
} Gram;

typedef struct {
    Gram *items; /* ascending, no repeats */
    Py_ssize_t n;
} GramSet;

/* Sorting makes a set of an array: an introsort with the comparison inlined (glibc's qsort, a merge
 * sort calling back per comparison, was a tenth of the whole run): quicksort, insertion sort for
 * short runs, heapsort where quicksort's splits go bad. */
#define LESS_U64(x, y) ((x) < (y))
#define LESS_GRAM(x, y) ((x).head < (y).head || ((x).head == (y).head && (x).tail < (y).tail))
#define MEDIAN3(less, a, b, c) \
    (less(a, b) ? (less(b, c) ? (b) : less(a, c) ? (c) : (a)) : (less(a, c) ? (a) : less(b, c) ? (c) : (b)))
#define SORT_FUNCTION(name, type, less)                                                                  \
    static void name##_heap(type *v, Py_ssize_t n)                                                       \
    {                                                                                                    \
        for (Py_ssize_t end = n, start = n / 2; end > 1;) {                                              \
            if (start > 0) {                                                                             \
                start--;                                                                                 \
            }                                                                                            \
            else {                                                                                       \
                end--;                                                                                   \
                type t = v[0];                                                                           \
                v[0] = v[end];                                                                           \
                v[end] = t;                                                                              \
            }                                                                                            \
            Py_ssize_t root = start;                                                                     \
            for (Py_ssize_t child; (child = 2 * root + 1) < end; root = child) {                         \
                if (child + 1 < end && less(v[child], v[child + 1])) {                                   \
                    child++;                                                                             \
                }                                                                                        \
                if (!less(v[root], v[child])) {                                                          \
                    break;                                                                               \
                }                                                                                        \
                type t = v[root];                                                                        \
                v[root] = v[child];                                                                      \
                v[child] = t;                                                                            \
            }                                                                                            \
        }                                                                                                \
    }                                                                                                    \
    static void name##_quick(type *v, Py_ssize_t n, int depth)                                           \
    {                                                                                                    \
        while (n > 16) {                                                                                 \
            if (depth-- == 0) { /* splits this uneven are a crafted input: heapsort stays n log n */     \
                name##_heap(v, n);                                                                       \
                return;                                                                                  \
            }                                                                                            \
            type a = v[0], b = v[n / 2], c = v[n - 1];                                                   \
            type pivot = MEDIAN3(less, a, b, c);                                                         \
            /* Hoare's partition: the median of three keeps both sides non-empty, so it always ends */   \
            Py_ssize_t i = 0, j = n - 1;                                                                 \
            for (;;) {                                                                                   \
                while (less(v[i], pivot)) {                                                              \
                    i++;                                                                                 \
                }                                                                                        \
                while (less(pivot, v[j])) {                                                              \
                    j--;                                                                                 \
                }                                                                                        \
                if (i >= j) {                                                                            \
                    break;                                                                               \
                }                                                                                        \
                type t = v[i];                                                                           \
                v[i++] = v[j];                                                                           \
                v[j--] = t;                                                                              \
            }                                                                                            \
            /* v[0..j] <= pivot <= v[j+1..n): recurse into the smaller side, loop on the larger */       \
            if (j + 1 < n - j - 1) {                                                                     \
                name##_quick(v, j + 1, depth);                                                           \
                v += j + 1;                                                                              \
                n -= j + 1;                                                                              \
            }                                                                                            \
            else {                                                                                       \
                name##_quick(v + j + 1, n - j - 1, depth);                                               \
                n = j + 1;                                                                               \
            }                                                                                            \
        }                                                                                                \
        for (Py_ssize_t i = 1; i < n; i++) {                                                             \
            type t = v[i];                                                                               \
            Py_ssize_t k = i;                                                                            \
            while (k > 0 && less(t, v[k - 1])) {                                                         \
                v[k] = v[k - 1];                                                                         \
                k--;                                                                                     \
            }                                                                                            \
            v[k] = t;                                                                                    \
        }                                                                                                \
    }                                                                                                    \
    static void name(type *v, Py_ssize_t n)                                                              \
    {                                                                                                    \
        int depth = 0;                                                                                   \
        for (Py_ssize_t m = n; m > 1; m /= 2) {                                                          \
            depth += 2;                                                                                  \
        }                                                                                                \
        name##_quick(v, n, depth);                                                                       \
    }

SORT_FUNCTION(sort_u64, uint64_t, LESS_U64)
SORT_FUNCTION(sort_grams, Gram, LESS_GRAM)

static int
compare_gram(const Gram *x, const Gram *y)
{
    return LESS_GRAM(*x, *y) ? -1 : LESS_GRAM(*y, *x) ? 1 : 0;
}

static Py_ssize_t
sort_unique_u64(uint64_t *v, Py_ssize_t n)
{
    if (n < 2) {
        return n;
    }
    sort_u64(v, n);
    Py_ssize_t w = 1;
    for (Py_ssize_t i = 1; i < n; i++) {
        if (v[i] != v[w - 1]) {
            v[w++] = v[i];
        }
    }
    return w;
}

static Py_ssize_t
sort_unique_grams(Gram *v, Py_ssize_t n)
{
    if (n < 2) {
        return n;
    }
    sort_grams(v, n);
    Py_ssize_t w = 1;
    for (Py_ssize_t i = 1; i < n; i++) {
        if (v[i].head != v[w - 1].head || v[i].tail != v[w - 1].tail) {
            v[w++] = v[i];
        }
    }
    return w;
}

static void
shingles_clear(ShingleSet *set)
{
    PyMem_Free(set->items);
    set->items = NULL;
    set->n = 0;
}

/* near_duplicates.all_shingles: every 3-character substring, or the key itself when that short */
static int
all_shingles(const Py_UCS4 *key, Py_ssize_t len, ShingleSet *out)
{
    Py_ssize_t count = len <= SHINGLE ? 1 : len - SHINGLE + 1;
    uint64_t *items = PyMem_Malloc(sizeof(uint64_t) * (size_t)count);
    if (items == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (len < SHINGLE) {
        items[0] = pack_short(key, len);
    }
    else {
        for (Py_ssize_t i = 0; i < count; i++) {
            items[i] = pack3(key + i);
        }
    }
    out->items = items;
    out->n = sort_unique_u64(items, count);
    return 0;
}

static int
is_particle(Py_UCS4 c)
{
    switch (c) {
    case 0x306E: case 0x306F: case 0x3092: case 0x306B: case 0x304C: case 0x3067:
    case 0x3068: case 0x3082: case 0x3078: case 0x3084: case 0x308B: case 'e': case 'o':
        return 1;
    default:
        return 0;
    }
}

/* near_duplicates._anchored: the shingles right after a particle (what `[…](?=(...))` finds at
 * every particle: its "." is not DOTALL, so a shingle holding a newline is not one), or all
 * shingles when fewer than three. */
static int
anchored_shingles(const Py_UCS4 *key, Py_ssize_t len, ShingleSet *out)
{
    Py_ssize_t capacity = len > SHINGLE ? len - SHINGLE : 1;
    uint64_t *items = PyMem_Malloc(sizeof(uint64_t) * (size_t)capacity);
    if (items == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t n = 0;
    for (Py_ssize_t i = 0; i + SHINGLE < len; i++) {
        if (is_particle(key[i]) && key[i + 1] != '\n' && key[i + 2] != '\n' && key[i + 3] != '\n') {
            items[n++] = pack3(key + i + 1);
        }
    }
    n = sort_unique_u64(items, n);
    if (n >= 3) {
        out->items = items;
        out->n = n;
        return 0;
    }
    PyMem_Free(items);
    return all_shingles(key, len, out);
}

/* near_duplicates._grams: every 5-character substring, or the key itself when that short */
static int
all_grams(const Py_UCS4 *key, Py_ssize_t len, GramSet *out)
{
    Py_ssize_t count = len <= GRAM ? 1 : len - GRAM + 1;
    Gram *items = PyMem_Malloc(sizeof(Gram) * (size_t)count);
    if (items == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (len < GRAM) {
        Py_UCS4 padded[GRAM] = {0};
        memcpy(padded, key, sizeof(Py_UCS4) * (size_t)len);
        items[0].head = pack3(padded);
        items[0].tail = SHORT_MARK | ((uint64_t)len << 42) | ((uint64_t)padded[3] << 21) | padded[4];
    }
    else {
        for (Py_ssize_t i = 0; i < count; i++) {
            items[i].head = pack3(key + i);
            items[i].tail = ((uint64_t)key[i + 3] << 21) | key[i + 4];
        }
    }
    out->items = items;
    out->n = sort_unique_grams(items, count);
    return 0;
}

static Py_ssize_t
common_shingles(const ShingleSet *a, const ShingleSet *b)
{
    Py_ssize_t i = 0, j = 0, common = 0;
    while (i < a->n && j < b->n) {
        if (a->items[i] < b->items[j]) {
            i++;
        }
        else if (a->items[i] > b->items[j]) {
            j++;
        }
        else {
            common++;
            i++;
            j++;
        }
    }
    return common;
}

static Py_ssize_t
common_grams(const GramSet *a, const GramSet *b)
{
    Py_ssize_t i = 0, j = 0, common = 0;
    while (i < a->n && j < b->n) {
        int order = compare_gram(&a->items[i], &b->items[j]);
        if (order < 0) {
            i++;
        }
        else if (order > 0) {
            j++;
        }
        else {
            common++;
            i++;
            j++;
        }
    }
    return common;
}

/* --- postings: shingle -> the blocks whose sample holds it, in the order they were added -------- */

typedef struct {
    uint64_t shingle; /* NO_SHINGLE: an empty slot */
    Py_ssize_t *ids;
    Py_ssize_t n, capacity;
} Posting;

typedef struct {
    Posting *slots; /* open addressing, linear probing; at most half full */
    size_t mask;
    Py_ssize_t used;
} PostingTable;

static size_t
mix(uint64_t x) /* splitmix64's finaliser: packed code points are far from uniform */
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return (size_t)x;
}

static int
postings_init(PostingTable *table, size_t slots)
{
    table->slots = PyMem_Malloc(sizeof(Posting) * slots);
    if (table->slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < slots; i++) {
        table->slots[i].shingle = NO_SHINGLE;
        table->slots[i].ids = NULL;
        table->slots[i].n = table->slots[i].capacity = 0;
    }
    table->mask = slots - 1;
    table->used = 0;
    return 0;
}

static void
postings_free(PostingTable *table)
{
    if (table->slots == NULL) {
        return;
    }
    for (size_t i = 0; i <= table->mask; i++) {
        PyMem_Free(table->slots[i].ids);
    }
    PyMem_Free(table->slots);
    table->slots = NULL;
}

static Posting *
postings_find(const PostingTable *table, uint64_t shingle)
{
    size_t i = mix(shingle) & table->mask;
    for (;;) {
        Posting *posting = &table->slots[i];
        if (posting->shingle == shingle) {
            return posting;
        }
        if (posting->shingle == NO_SHINGLE) {
            return NULL;
        }
        i = (i + 1) & table->mask;
    }
}

/* The posting of `shingle`, made empty if it has none (defaultdict's `postings[shingle]`). */
static Posting *
postings_get(PostingTable *table, uint64_t shingle)
{
    if ((size_t)(table->used + 1) * 2 > table->mask + 1) {
        PostingTable bigger;
        if (table->mask >= SIZE_MAX / 4 / sizeof(Posting) || postings_init(&bigger, (table->mask + 1) * 2) < 0) {
            if (!PyErr_Occurred()) {
                PyErr_NoMemory();
            }
            return NULL;
        }
        for (size_t i = 0; i <= table->mask; i++) {
            Posting *old = &table->slots[i];
            if (old->shingle == NO_SHINGLE) {
                continue;
            }
            size_t j = mix(old->shingle) & bigger.mask;
            while (bigger.slots[j].shingle != NO_SHINGLE) {
                j = (j + 1) & bigger.mask;
            }
            bigger.slots[j] = *old;
        }
        bigger.used = table->used;
        PyMem_Free(table->slots);
        *table = bigger;
    }
    size_t i = mix(shingle) & table->mask;
    while (table->slots[i].shingle != NO_SHINGLE) {
        if (table->slots[i].shingle == shingle) {
            return &table->slots[i];
        }
        i = (i + 1) & table->mask;
    }
    table->slots[i].shingle = shingle;
    table->used++;
    return &table->slots[i];
}

static int
posting_append(Posting *posting, Py_ssize_t ident)
{
    if (posting->n == posting->capacity) {
        Py_ssize_t capacity = posting->capacity ? posting->capacity * 2 : 4;
        Py_ssize_t *ids = PyMem_Realloc(posting->ids, sizeof(Py_ssize_t) * (size_t)capacity);
        if (ids == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        posting->ids = ids;
        posting->capacity = capacity;
    }
    posting->ids[posting->n++] = ident;
    return 0;
}

/* --- the deduper's memory of one post ----------------------------------------------------------- */

/* An indexed block (`ident` in the Python code): its key and shingle sets. The full shingle set
 * and the 5-grams are built only when a comparison needs them, and kept, as in Python: the
 * 5-grams are never rebuilt, not even when a fuller copy replaces the block's key (nor are they
 * in Python's `self.grams`). */
typedef struct {
    Py_UCS4 *key;
    Py_ssize_t key_len;
    ShingleSet sampled;
    ShingleSet shingles;
    int has_shingles;
    GramSet grams;
    int has_grams;
    Py_ssize_t position; /* index into `kept` */
} Block;

typedef struct {
    /* passed in by near_duplicates.dedupe (borrowed) */
    PyObject *raw_class, *dropped, *sentence_pieces, *fold;
    /* the Python deduper's string sets, as Python sets */
    PyObject *exact_text, *exact, *sentences;
    PyObject **kept; /* owned references; `_DROPPED` where a fuller copy took a block's place */
    Py_ssize_t n_kept, kept_capacity;
    Block *blocks;
    Py_ssize_t n_blocks, blocks_capacity;
    int *counts;            /* per block, shared sampled shingles: zero between queries */
    Py_ssize_t *touched;    /* the blocks a query counted */
    PostingTable postings;
    /* names and constants, made once per call */
    PyObject *name_kind, *name_text, *name_bold_only, *kind_break, *kind_heading, *empty, *bold_only_kwnames;
} Deduper;

/* A block being judged: its key and the shingle sets made from it. */
typedef struct {
    PyObject *key;
    Py_UCS4 *chars;
    Py_ssize_t len;
    ShingleSet sampled;
    ShingleSet all;
    int has_all;
} Query;

static void
query_clear(Query *query)
{
    Py_CLEAR(query->key);
    PyMem_Free(query->chars);
    query->chars = NULL;
    shingles_clear(&query->sampled);
    shingles_clear(&query->all);
    query->has_all = 0;
}

/* Takes over the reference to `key` (a str). */
static int
query_init(Query *query, PyObject *key)
{
    query_clear(query);
    query->key = key;
    query->len = PyUnicode_GET_LENGTH(key);
    query->chars = PyUnicode_AsUCS4Copy(key);
    if (query->chars == NULL) {
        return -1;
    }
    return anchored_shingles(query->chars, query->len, &query->sampled);
}

static int
keep(Deduper *d, PyObject *raw)
{
    if (d->n_kept == d->kept_capacity) {
        Py_ssize_t capacity = d->kept_capacity ? d->kept_capacity * 2 : 64;
        PyObject **kept = PyMem_Realloc(d->kept, sizeof(PyObject *) * (size_t)capacity);
        if (kept == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        d->kept = kept;
        d->kept_capacity = capacity;
    }
    Py_INCREF(raw);
    d->kept[d->n_kept++] = raw;
    return 0;
}

static int
is_dropped(const Deduper *d, Py_ssize_t ident)
{
    return d->kept[d->blocks[ident].position] == d->dropped;
}

/* A new block, owning the query's key and sample (the query keeps its own str). */
static Py_ssize_t
add_block(Deduper *d, Query *query)
{
    if (d->n_blocks == d->blocks_capacity) {
        Py_ssize_t capacity = d->blocks_capacity ? d->blocks_capacity * 2 : 64;
        Block *blocks = PyMem_Realloc(d->blocks, sizeof(Block) * (size_t)capacity);
        if (blocks == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        d->blocks = blocks;
        int *counts = PyMem_Realloc(d->counts, sizeof(int) * (size_t)capacity);
        if (counts == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memset(counts + d->blocks_capacity, 0, sizeof(int) * (size_t)(capacity - d->blocks_capacity));
        d->counts = counts;
        Py_ssize_t *touched = PyMem_Realloc(d->touched, sizeof(Py_ssize_t) * (size_t)capacity);
        if (touched == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        d->touched = touched;
        d->blocks_capacity = capacity;
    }
    Block *block = &d->blocks[d->n_blocks];
    memset(block, 0, sizeof(Block));
    block->key = query->chars;
    block->key_len = query->len;
    block->sampled = query->sampled;
    block->position = d->n_kept;
    query->chars = NULL;
    query->sampled.items = NULL;
    query->sampled.n = 0;
    return d->n_blocks++;
}

/* --- text helpers: what the Python code does with str methods and `dedup_key` ------------------- */

/* `text.strip()`: str.strip strips what Py_UNICODE_ISSPACE calls whitespace. */
static PyObject *
strip_spaces(PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "a sentence piece must be a str, not %.100s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    Py_ssize_t start = 0, end = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    while (start < end && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, start))) {
        start++;
    }
    while (end > start && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, end - 1))) {
        end--;
    }
    return PyUnicode_Substring(text, start, end);
}

/* What `re.compile(r"[\s\W_]+").sub("", text)` keeps: sre's \w is Py_UNICODE_ISALNUM or "_" and
 * its \s is Py_UNICODE_ISSPACE, so a character stays when it is alphanumeric, not a space and not
 * "_"; no alphanumeric character is either (the test over all of Unicode holds this to re). Kana and
 * the common kanji, most of a Japanese key, are alphanumeric without asking the Unicode database. */
static int
kept_by_strip(Py_UCS4 c)
{
    if (c < 0x80) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }
    if ((c >= 0x3041 && c <= 0x3096) || (c >= 0x30A1 && c <= 0x30FA) || (c >= 0x30FC && c <= 0x30FF)
        || (c >= 0x4E00 && c <= 0x9FFF)) {
        return 1;
    }
    return Py_UNICODE_ISALNUM(c);
}

static PyObject *
strip_for_key(PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "expected a str, not %.100s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t first_stripped = 0;
    while (first_stripped < n && kept_by_strip(PyUnicode_READ(kind, data, first_stripped))) {
        first_stripped++;
    }
    if (first_stripped == n) {
        Py_INCREF(text);
        return text;
    }
    Py_UCS4 *kept = PyMem_Malloc(sizeof(Py_UCS4) * (size_t)n);
    if (kept == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t w = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (kept_by_strip(c)) {
            kept[w++] = c;
        }
    }
    PyObject *stripped = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, kept, w);
    PyMem_Free(kept);
    return stripped;
}

/* Characters `fold` (NFKC, then casefold) leaves alone, ASCII capitals apart, and that never
 * compose with the character before them: ASCII letters and digits, hiragana without the
 * sound marks, katakana up to the prolonged sound mark (not ヽヾヿ: ヿ is "コト" in NFKC), and
 * the CJK ideographs of textnorm's _STABLE. A key made only of them folds to its ASCII lower
 * case; tests/bot/content/test_near_duplicates_native.py holds this to `fold` over every one. */
static int
folds_to_itself(Py_UCS4 c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= 0x3041 && c <= 0x3096) || (c >= 0x30A1 && c <= 0x30FC) || (c >= 0x3400 && c <= 0x4DBF)
           || (c >= 0x4E00 && c <= 0x9FFF);
}

/* `fold(key)` without calling it when every character folds to itself (or to its ASCII lower
 * case): most keys of a Japanese post, and a quarter of what dedupe spent in Python. NULL with
 * no error set when the slow path is needed. */
static PyObject *
fold_fast(PyObject *key)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(key);
    int kind = PyUnicode_KIND(key);
    const void *data = PyUnicode_DATA(key);
    int capitals = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        if (!folds_to_itself(c)) {
            return NULL;
        }
        capitals |= (c >= 'A' && c <= 'Z');
    }
    if (!capitals) {
        Py_INCREF(key);
        return key;
    }
    PyObject *lowered = PyUnicode_New(n, PyUnicode_MAX_CHAR_VALUE(key));
    if (lowered == NULL) {
        return NULL;
    }
    int out_kind = PyUnicode_KIND(lowered);
    void *out = PyUnicode_DATA(lowered);
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        PyUnicode_WRITE(out_kind, out, i, (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c);
    }
    return lowered;
}

/* near_duplicates.dedup_key: stripped here, folded here when that is exact, else by the Python `fold`. */
static PyObject *
dedup_key(const Deduper *d, PyObject *text)
{
    PyObject *stripped = strip_for_key(text);
    if (stripped == NULL) {
        return NULL;
    }
    PyObject *fast = fold_fast(stripped);
    if (fast != NULL || PyErr_Occurred()) {
        Py_DECREF(stripped);
        return fast;
    }
    PyObject *key = PyObject_CallOneArg(d->fold, stripped);
    Py_DECREF(stripped);
    if (key != NULL && !PyUnicode_Check(key)) {
        PyErr_Format(PyExc_TypeError, "fold() returned %.100s, not a str", Py_TYPE(key)->tp_name);
        Py_CLEAR(key);
    }
    return key;
}

/* `sentence_pieces(text)` as a list (a new reference). */
static PyObject *
pieces_of(const Deduper *d, PyObject *text)
{
    PyObject *result = PyObject_CallOneArg(d->sentence_pieces, text);
    if (result == NULL) {
        return NULL;
    }
    PyObject *pieces = PySequence_Fast(result, "sentence_pieces() must return a sequence");
    Py_DECREF(result);
    return pieces;
}

/* `Raw(kind, text)`, or `Raw(kind, text, bold_only=bold_only)` when bold_only is given. */
static PyObject *
make_raw(const Deduper *d, PyObject *kind, PyObject *text, PyObject *bold_only)
{
    PyObject *args[3] = {kind, text, bold_only};
    return PyObject_Vectorcall(d->raw_class, args, 2, bold_only ? d->bold_only_kwnames : NULL);
}

/* --- the Python deduper's methods --------------------------------------------------------------- */

/* _Deduper._pair: the shingle sets to compare a query with block `ident` by. */
static int
pair(Deduper *d, Query *query, Py_ssize_t ident, const ShingleSet **mine, const ShingleSet **other)
{
    Block *block = &d->blocks[ident];
    if (query->sampled.n >= MIN_SAMPLE && block->sampled.n >= MIN_SAMPLE) {
        *mine = &query->sampled;
        *other = &block->sampled;
        return 0;
    }
    if (!block->has_shingles) {
        if (all_shingles(block->key, block->key_len, &block->shingles) < 0) {
            return -1;
        }
        block->has_shingles = 1;
    }
    if (!query->has_all) {
        if (all_shingles(query->chars, query->len, &query->all) < 0) {
            return -1;
        }
        query->has_all = 1;
    }
    *mine = &query->all;
    *other = &block->shingles;
    return 0;
}

#define LESS_IDENT(x, y) ((x) < (y))
SORT_FUNCTION(sort_idents, Py_ssize_t, LESS_IDENT)

/* The blocks found by _Deduper._find_similar, owned by its caller (`similar_clear`). */
typedef struct {
    Py_ssize_t duplicate_of; /* -1: None */
    Py_ssize_t *contained;   /* ascending */
    Py_ssize_t n_contained;
    Py_ssize_t *nearby; /* every block sharing a counted shingle: the Counter's keys (in no order,
                           which is all the Python code needs of them) */
    Py_ssize_t n_nearby;
} Similar;

static void
similar_clear(Similar *similar)
{
    PyMem_Free(similar->contained);
    PyMem_Free(similar->nearby);
    memset(similar, 0, sizeof(Similar));
    similar->duplicate_of = -1;
}

/* _Deduper._find_similar: the block this one repeats (if any), the earlier blocks it contains,
 * and all that share a shingle. */
static int
find_similar(Deduper *d, Query *query, Similar *out)
{
    similar_clear(out);
    Py_ssize_t n_touched = 0;
    for (Py_ssize_t s = 0; s < query->sampled.n; s++) {
        const Posting *posting = postings_find(&d->postings, query->sampled.items[s]);
        if (posting == NULL || posting->n > MAX_POSTING) {
            continue;
        }
        for (Py_ssize_t k = 0; k < posting->n; k++) {
            Py_ssize_t ident = posting->ids[k];
            if (d->counts[ident]++ == 0) {
                d->touched[n_touched++] = ident;
            }
        }
    }
    /* the counts go back to zero whatever happens next: copy them out first */
    int *shared_of = PyMem_Malloc(sizeof(int) * (size_t)(n_touched ? n_touched : 1));
    out->nearby = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n_touched ? n_touched : 1));
    out->contained = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(n_touched ? n_touched : 1));
    if (shared_of == NULL || out->nearby == NULL || out->contained == NULL) {
        for (Py_ssize_t k = 0; k < n_touched; k++) {
            d->counts[d->touched[k]] = 0;
        }
        PyMem_Free(shared_of);
        PyErr_NoMemory();
        return -1;
    }
    /* sorted(counts.items()): earliest block first */
    sort_idents(d->touched, n_touched);
    for (Py_ssize_t k = 0; k < n_touched; k++) {
        out->nearby[k] = d->touched[k];
        shared_of[k] = d->counts[d->touched[k]];
        d->counts[d->touched[k]] = 0;
    }
    out->n_nearby = n_touched;
    Py_ssize_t own_half = query->sampled.n / 2 > 1 ? query->sampled.n / 2 : 1;
    for (Py_ssize_t k = 0; k < n_touched; k++) {
        Py_ssize_t cand = out->nearby[k];
        Py_ssize_t shared = shared_of[k];
        Py_ssize_t cand_half = d->blocks[cand].sampled.n / 2 > 1 ? d->blocks[cand].sampled.n / 2 : 1;
        /* at least half of the smaller sample in common, or it cannot be a near-copy */
        if (shared < own_half && shared < cand_half) {
            continue;
        }
        const ShingleSet *mine, *other;
        if (pair(d, query, cand, &mine, &other) < 0) {
            PyMem_Free(shared_of);
            return -1;
        }
        Py_ssize_t inter = common_shingles(mine, other);
        /* Python compares an int with a float exactly, and so does C with these small counts */
        if ((double)inter >= CONTAIN_DUP * (double)other->n
            && query->len >= d->blocks[cand].key_len + MIN_SENTENCE_CHARS) {
            out->contained[out->n_contained++] = cand;
            continue;
        }
        if ((double)inter / (double)(mine->n + other->n - inter) >= JACCARD_DUP
            || (double)inter >= CONTAIN_DUP * (double)mine->n) {
            out->duplicate_of = cand;
            out->n_contained = 0;
            break;
        }
        if ((double)inter >= CONTAIN_DUP * (double)other->n) {
            out->contained[out->n_contained++] = cand;
        }
    }
    PyMem_Free(shared_of);
    return 0;
}

/* _Deduper._novel_sentences: the sentences of `text` that block `ident` does not already say;
 * Py_None when there are none. */
static PyObject *
novel_sentences(Deduper *d, PyObject *text, Py_ssize_t ident)
{
    Block *block = &d->blocks[ident];
    if (!block->has_grams) {
        if (all_grams(block->key, block->key_len, &block->grams) < 0) {
            return NULL;
        }
        block->has_grams = 1;
    }
    PyObject *pieces = pieces_of(d, text);
    if (pieces == NULL) {
        return NULL;
    }
    PyObject *novel = PyList_New(0);
    PyObject *result = NULL;
    if (novel == NULL) {
        goto done;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(pieces);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *piece = PySequence_Fast_GET_ITEM(pieces, i);
        PyObject *key = dedup_key(d, piece);
        if (key == NULL) {
            goto done;
        }
        if (PyUnicode_GET_LENGTH(key) < MIN_SENTENCE_CHARS) {
            Py_DECREF(key);
            continue;
        }
        PyObject *sentence = strip_spaces(piece);
        int seen = sentence == NULL ? -1 : PySet_Contains(d->sentences, sentence);
        Py_XDECREF(sentence);
        if (seen != 0) {
            Py_DECREF(key);
            if (seen < 0) {
                goto done;
            }
            continue;
        }
        Py_UCS4 *chars = PyUnicode_AsUCS4Copy(key);
        GramSet own = {NULL, 0};
        int failed = chars == NULL || all_grams(chars, PyUnicode_GET_LENGTH(key), &own) < 0;
        PyMem_Free(chars);
        Py_DECREF(key);
        if (failed) {
            goto done;
        }
        Py_ssize_t common = common_grams(&own, &block->grams);
        Py_ssize_t n_own = own.n;
        PyMem_Free(own.items);
        if ((double)common < NOVEL_SHARE * (double)n_own && PyList_Append(novel, piece) < 0) {
            goto done;
        }
    }
    PyObject *joined = PyUnicode_Join(d->empty, novel);
    if (joined == NULL) {
        goto done;
    }
    result = strip_spaces(joined);
    Py_DECREF(joined);
    if (result != NULL && PyUnicode_GET_LENGTH(result) == 0) {
        Py_DECREF(result);
        result = Py_NewRef(Py_None);
    }
done:
    Py_XDECREF(novel);
    Py_DECREF(pieces);
    return result;
}

/* _Deduper._without_seen_sentences: `text` without the sentences already said (a new reference,
 * `text` itself when none was), Py_None when nothing new is left. */
static PyObject *
without_seen_sentences(Deduper *d, PyObject *text, PyObject *pieces)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(pieces);
    PyObject *rest_pieces = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *piece = PySequence_Fast_GET_ITEM(pieces, i);
        PyObject *sentence = strip_spaces(piece);
        if (sentence == NULL) {
            goto fail;
        }
        int drop = 0;
        if (PyUnicode_GET_LENGTH(sentence) >= MIN_SENTENCE_CHARS) {
            drop = PySet_Contains(d->sentences, sentence);
        }
        Py_DECREF(sentence);
        if (drop < 0) {
            goto fail;
        }
        if (drop && rest_pieces == NULL) { /* the first one dropped: the pieces before it stay */
            rest_pieces = PyList_New(0);
            if (rest_pieces == NULL) {
                goto fail;
            }
            for (Py_ssize_t k = 0; k < i; k++) {
                if (PyList_Append(rest_pieces, PySequence_Fast_GET_ITEM(pieces, k)) < 0) {
                    goto fail;
                }
            }
        }
        else if (!drop && rest_pieces != NULL && PyList_Append(rest_pieces, piece) < 0) {
            goto fail;
        }
    }
    if (rest_pieces == NULL) {
        return Py_NewRef(text);
    }
    PyObject *joined = PyUnicode_Join(d->empty, rest_pieces);
    Py_CLEAR(rest_pieces);
    if (joined == NULL) {
        return NULL;
    }
    PyObject *rest = strip_spaces(joined);
    Py_DECREF(joined);
    if (rest == NULL) {
        return NULL;
    }
    PyObject *key = dedup_key(d, rest);
    if (key == NULL) {
        Py_DECREF(rest);
        return NULL;
    }
    Py_ssize_t key_len = PyUnicode_GET_LENGTH(key);
    Py_DECREF(key);
    if (key_len < MIN_SENTENCE_CHARS) {
        Py_DECREF(rest);
        return Py_NewRef(Py_None);
    }
    return rest;
fail:
    Py_XDECREF(rest_pieces);
    return NULL;
}

/* _Deduper._remember_sentences */
static int
remember_sentences(Deduper *d, PyObject *pieces)
{
    Py_ssize_t n = PySequence_Fast_GET_SIZE(pieces);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *sentence = strip_spaces(PySequence_Fast_GET_ITEM(pieces, i));
        if (sentence == NULL) {
            return -1;
        }
        int failed = PyUnicode_GET_LENGTH(sentence) >= MIN_SENTENCE_CHARS && PySet_Add(d->sentences, sentence) < 0;
        Py_DECREF(sentence);
        if (failed) {
            return -1;
        }
    }
    return 0;
}

/* --- sentences.sentence_pieces ------------------------------------------------------------------ */

/* Called on nearly every block, it was two thirds of what the deduper still spent in Python. This
 * is sentences.py's rules line by line (each function below names the one it follows); the test
 * compares it with `sentences.sentence_pieces` on every block of the sample and on random text
 * made of the characters the rules look at, and `CONSTANTS` carries the character classes and
 * abbreviations for the test to check against sentences.py. */

#define OPENERS "\u300c\u300e\uff08(\u3010\u3014\uff3b\u300a\u3008\u201c\u2018"
#define CLOSERS "\u300d\u300f\uff09)\u3011\u3015\uff3d\u300b\u3009\u201d\u2019"
#define N_BRACKET_KINDS 11
#define LONGEST_WORD 64

static const char *const ABBREVIATIONS[] = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "eg", "ie", "inc", "ltd",
    "co", "corp", "no", "fig", "figs", "approx", "est", "dept", "univ", "jan", "feb", "mar", "apr", "jun",
    "jul", "aug", "sep", "sept", "oct", "nov", "dec", "u.s", "u.k", "a.m", "p.m", "ph.d", "al", "cf", "ca",
    "vol", "op",
};

/* OPENERS and CLOSERS of sentences.py, pair by pair: the closer of OPENERS[k] is CLOSERS[k]. */
static const Py_UCS4 OPENER_CHARS[N_BRACKET_KINDS] = {0x300C, 0x300E, 0xFF08, 0x28, 0x3010, 0x3014,
                                                      0xFF3B, 0x300A, 0x3008, 0x201C, 0x2018};
static const Py_UCS4 CLOSER_CHARS[N_BRACKET_KINDS] = {0x300D, 0x300F, 0xFF09, 0x29, 0x3011, 0x3015,
                                                      0xFF3D, 0x300B, 0x3009, 0x201D, 0x2019};

/* The index of `c` in `kinds` (OPENER_CHARS or CLOSER_CHARS, whose one ASCII member is `ascii`), or -1 */
static int
bracket_index(const Py_UCS4 *kinds, Py_UCS4 ascii, Py_UCS4 c)
{
    if (c < 0x2018 && c != ascii) {
        return -1;
    }
    for (int k = 0; k < N_BRACKET_KINDS; k++) {
        if (kinds[k] == c) {
            return k;
        }
    }
    return -1;
}

static int
opener_index(Py_UCS4 c)
{
    return bracket_index(OPENER_CHARS, '(', c);
}

static int
closer_index(Py_UCS4 c)
{
    return bracket_index(CLOSER_CHARS, ')', c);
}

static int
is_terminator(Py_UCS4 c) /* [。｡．！？!?.] */
{
    return c == 0x3002 || c == 0xFF61 || c == 0xFF0E || c == 0xFF01 || c == 0xFF1F || c == '!' || c == '?'
        || c == '.';
}

static int
is_closer_or_quote(Py_UCS4 c) /* what _TERMINATOR_RE takes after the terminators */
{
    return c == '"' || c == '\'' || closer_index(c) >= 0;
}

static int
is_word_char(Py_UCS4 c) /* sentences._WORD_CHARS */
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '.';
}

typedef struct {
    Py_ssize_t start, end; /* an opening bracket and the one that closes it */
} BracketPair;
#define LESS_PAIR(x, y) ((x).start < (y).start)
SORT_FUNCTION(sort_pairs, BracketPair, LESS_PAIR)

/* One line of the text being split, and its bracket spans. */
typedef struct {
    const Py_UCS4 *s;
    Py_ssize_t n;
    Py_ssize_t *span_start, *span_end; /* disjoint, ascending: sentences._outer_spans */
    Py_ssize_t n_spans;
} Line;

/* sentences._word_before: where `([A-Za-z][A-Za-z.]*)$` starts in s[:start], looking back at most
 * LONGEST_WORD characters; -1 when there is no such word. */
static Py_ssize_t
word_before(const Line *line, Py_ssize_t start)
{
    Py_ssize_t begin = start;
    Py_ssize_t limit = start - LONGEST_WORD > 0 ? start - LONGEST_WORD : 0;
    while (begin > limit && is_word_char(line->s[begin - 1])) {
        begin--;
    }
    while (begin < start && line->s[begin] == '.') {
        begin++;
    }
    return begin < start ? begin : -1;
}

/* `word.lower().rstrip(".") in _ABBREVIATIONS` for the ASCII word s[begin:end] */
static int
is_abbreviation(const Line *line, Py_ssize_t begin, Py_ssize_t end)
{
    while (end > begin && line->s[end - 1] == '.') {
        end--;
    }
    Py_ssize_t len = end - begin;
    if (len == 0 || len > 8) {
        return 0;
    }
    char word[9];
    for (Py_ssize_t i = 0; i < len; i++) {
        Py_UCS4 c = line->s[begin + i];
        word[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    word[len] = '\0';
    for (size_t k = 0; k < sizeof(ABBREVIATIONS) / sizeof(ABBREVIATIONS[0]); k++) {
        if (strcmp(word, ABBREVIATIONS[k]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* sentences._is_boundary: whether the terminator run s[start:end] ends a sentence. */
static int
is_boundary(const Line *line, Py_ssize_t start, Py_ssize_t end)
{
    const Py_UCS4 *s = line->s;
    int has_next = end < line->n, has_prev = start > 0;
    Py_UCS4 next = has_next ? s[end] : 0, prev = has_prev ? s[start - 1] : 0;
    Py_ssize_t core_end = end; /* run.rstrip(CLOSERS + "\"'") */
    while (core_end > start && is_closer_or_quote(s[core_end - 1])) {
        core_end--;
    }
    /* `nxt in "とっ"`, and "" is in every string: a quoted run at the end of a line is no end */
    if (core_end != end && (!has_next || next == 0x3068 || next == 0x3063)) {
        return 0;
    }
    int bang_or_question_only = 1, has_full_stop = 0, ends_with_period = s[core_end - 1] == '.';
    for (Py_ssize_t i = start; i < core_end; i++) {
        Py_UCS4 c = s[i];
        if (c == 0x3002 || c == 0xFF61 || c == 0xFF01 || c == 0xFF1F) {
            return 1;
        }
        has_full_stop |= c == 0xFF0E;
        bang_or_question_only &= c == '!' || c == '?';
    }
    int prev_digit = has_prev && Py_UNICODE_ISDIGIT(prev), next_digit = has_next && Py_UNICODE_ISDIGIT(next);
    if (has_full_stop && !(prev_digit && next_digit)) {
        return 1;
    }
    if (bang_or_question_only) { /* "Yahoo!ニュース", "Hey!Say": a Latin word glued to what follows is a name */
        int prev_latin = has_prev && prev < 0x80 && Py_UNICODE_ISALNUM(prev);
        return !(prev_latin && has_next && !Py_UNICODE_ISSPACE(next));
    }
    /* ASCII periods from here on */
    if (!has_next) {
        return 1;
    }
    if (!Py_UNICODE_ISSPACE(next)) {
        if (next < 0x80 || prev_digit) {
            return 0;
        }
        Py_ssize_t word = word_before(line, start);
        return !(word >= 0 && is_abbreviation(line, word, start));
    }
    if (core_end - start != 1 && ends_with_period) { /* `core != "." and core.endswith(".")` */
        return 1;
    }
    Py_ssize_t before = word_before(line, start);
    if (before >= 0) {
        int single_capital = start - before == 1 && s[before] >= 'A' && s[before] <= 'Z';
        if (is_abbreviation(line, before, start) || single_capital) {
            return 0;
        }
    }
    if (prev_digit) { /* a list number at the very start: "1. " */
        Py_ssize_t leading = 0;
        while (leading < line->n && (s[leading] == ' ' || (s[leading] >= '0' && s[leading] <= '9'))) {
            leading++;
        }
        if (leading >= start) {
            return 0;
        }
    }
    Py_ssize_t following = end;
    while (following < line->n && Py_UNICODE_ISSPACE(s[following])) {
        following++;
    }
    return !(following < line->n && s[following] >= 'a' && s[following] <= 'z');
}

/* sentences._matched_openers and _outer_spans: the balanced bracket pairs of the line, merged into
 * disjoint spans. An opener's closer closes the innermost open one of its kind and everything
 * opened after it; `top_of` and `below` stand in for the Python's per-closer lists of depths. */
static int
bracket_spans(Line *line, Py_ssize_t *scratch)
{
    Py_ssize_t n = line->n;
    Py_ssize_t *stack_pos = scratch, *below = scratch + n;
    BracketPair *pairs = (BracketPair *)(scratch + 2 * n); /* two Py_ssize_t each */
    int *stack_kind = PyMem_Malloc(sizeof(int) * (size_t)(n ? n : 1));
    if (stack_kind == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t top_of[N_BRACKET_KINDS];
    for (int k = 0; k < N_BRACKET_KINDS; k++) {
        top_of[k] = -1;
    }
    Py_ssize_t depth = 0, n_pairs = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        int k = opener_index(line->s[i]);
        if (k >= 0) {
            stack_pos[depth] = i;
            stack_kind[depth] = k;
            below[depth] = top_of[k];
            top_of[k] = depth++;
            continue;
        }
        k = closer_index(line->s[i]);
        if (k < 0 || top_of[k] < 0) {
            continue;
        }
        Py_ssize_t opened = top_of[k];
        pairs[n_pairs].start = stack_pos[opened];
        pairs[n_pairs++].end = i;
        while (depth > opened) {
            depth--;
            top_of[stack_kind[depth]] = below[depth];
        }
    }
    PyMem_Free(stack_kind);
    /* pairs come out ordered by their closer; _outer_spans takes them by opener */
    sort_pairs(pairs, n_pairs);
    line->span_start = stack_pos; /* the stack is done with: its room holds the spans */
    line->span_end = below;
    line->n_spans = 0;
    for (Py_ssize_t i = 0; i < n_pairs; i++) {
        Py_ssize_t last = line->n_spans - 1;
        if (last >= 0 && pairs[i].start < line->span_end[last]) {
            if (pairs[i].end > line->span_end[last]) {
                line->span_end[last] = pairs[i].end;
            }
        }
        else {
            line->span_start[line->n_spans] = pairs[i].start;
            line->span_end[line->n_spans++] = pairs[i].end;
        }
    }
    return 0;
}

/* sentences._inside_brackets: within the last span that starts before `pos` */
static int
inside_brackets(const Line *line, Py_ssize_t pos)
{
    Py_ssize_t low = 0, high = line->n_spans; /* bisect_left(starts, pos) */
    while (low < high) {
        Py_ssize_t mid = (low + high) / 2;
        if (line->span_start[mid] < pos) {
            low = mid + 1;
        }
        else {
            high = mid;
        }
    }
    return low > 0 && pos < line->span_end[low - 1];
}

/* sentences._sentence_ends of one line: appends to `ends` (offset by `offset`) */
static int
line_sentence_ends(Line *line, Py_ssize_t offset, Py_ssize_t *scratch, Py_ssize_t *ends, Py_ssize_t *n_ends)
{
    line->n_spans = 0;
    for (Py_ssize_t i = 0; i < line->n; i++) {
        if (opener_index(line->s[i]) >= 0 || closer_index(line->s[i]) >= 0) {
            if (bracket_spans(line, scratch) < 0) {
                return -1;
            }
            break;
        }
    }
    Py_ssize_t i = 0;
    while (i < line->n) { /* _TERMINATOR_RE.finditer */
        if (!is_terminator(line->s[i])) {
            i++;
            continue;
        }
        Py_ssize_t start = i;
        while (i < line->n && is_terminator(line->s[i])) {
            i++;
        }
        while (i < line->n && is_closer_or_quote(line->s[i])) {
            i++;
        }
        if (line->n_spans && inside_brackets(line, start)) {
            continue;
        }
        /* a lone 。 always ends one; every other run goes through the rules */
        if ((i - start != 1 || line->s[start] != 0x3002) && !is_boundary(line, start, i)) {
            continue;
        }
        ends[(*n_ends)++] = offset + i;
    }
    return 0;
}

static int
is_piece_trail(Py_UCS4 c) /* sentences._PIECE_TRAIL */
{
    return c == ' ' || c == 0x3000 || c == '\t' || c == '\n';
}

/* sentences.sentence_pieces: lossless pieces, joined they give the text back */
static PyObject *
sentence_pieces(PyObject *module, PyObject *text)
{
    (void)module;
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "sentence_pieces() takes a str, not %.100s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    Py_ssize_t stops = 0; /* 。？！ */
    int has_space = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i);
        stops += c == 0x3002 || c == 0xFF1F || c == 0xFF01;
        has_space |= c == ' ';
    }
    if (stops <= 1 && !has_space) { /* at most one terminator and no space: one piece */
        PyObject *one = PyList_New(1);
        if (one != NULL) {
            PyList_SET_ITEM(one, 0, Py_NewRef(text));
        }
        return one;
    }
    if (n > (Py_ssize_t)((PY_SSIZE_T_MAX / sizeof(Py_ssize_t) - 1) / 5)) {
        return PyErr_NoMemory();
    }
    PyObject *pieces = NULL;
    Py_UCS4 *s = PyUnicode_AsUCS4Copy(text);
    /* room for: every end (one per character at most), and bracket_spans' four arrays */
    Py_ssize_t *ends = PyMem_Malloc(sizeof(Py_ssize_t) * (size_t)(5 * n + 1));
    if (s == NULL || ends == NULL) {
        if (s != NULL) {
            PyErr_NoMemory();
        }
        goto done;
    }
    Py_ssize_t *scratch = ends + n + 1, n_ends = 0;
    Py_ssize_t line_start = 0;
    for (Py_ssize_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '\n') {
            Line line = {s + line_start, i - line_start, NULL, NULL, 0};
            if (line_sentence_ends(&line, line_start, scratch, ends, &n_ends) < 0) {
                goto done;
            }
            line_start = i + 1;
        }
    }
    /* _CJK_SPACE_RE: a space between two non-ASCII characters ends a piece (a run-in heading) */
    for (Py_ssize_t i = 1; i + 1 < n; i++) {
        if ((s[i] == ' ' || s[i] == 0x3000) && s[i - 1] >= 0x80 && s[i + 1] >= 0x80) {
            ends[n_ends++] = i + 1;
        }
    }
    sort_idents(ends, n_ends);
    pieces = PyList_New(0);
    if (pieces == NULL) {
        goto done;
    }
    Py_ssize_t begin = 0;
    for (Py_ssize_t k = 0; k < n_ends; k++) {
        Py_ssize_t end = ends[k];
        while (end < n && is_piece_trail(s[end])) {
            end++;
        }
        if (end > begin) {
            PyObject *piece = PyUnicode_Substring(text, begin, end);
            if (piece == NULL || PyList_Append(pieces, piece) < 0) {
                Py_XDECREF(piece);
                Py_CLEAR(pieces);
                goto done;
            }
            Py_DECREF(piece);
            begin = end;
        }
    }
    if (begin < n) {
        PyObject *piece = PyUnicode_Substring(text, begin, n);
        if (piece == NULL || PyList_Append(pieces, piece) < 0) {
            Py_XDECREF(piece);
            Py_CLEAR(pieces);
        }
        else {
            Py_DECREF(piece);
        }
    }
done:
    PyMem_Free(s);
    PyMem_Free(ends);
    return pieces;
}

/* `raw.kind in ("break", "heading")` */
static int
is_break_or_heading(const Deduper *d, PyObject *kind)
{
    int found = PyObject_RichCompareBool(d->kind_break, kind, Py_EQ);
    if (found == 0) {
        found = PyObject_RichCompareBool(d->kind_heading, kind, Py_EQ);
    }
    return found;
}

/* Replace `*raw` (and its text) with a new Raw of its kind holding `text`: what the Python code's
 * `raw = Raw(raw.kind, text, bold_only=raw.bold_only)` does. */
static int
replace_raw(const Deduper *d, PyObject **raw, PyObject **text, PyObject *new_text)
{
    PyObject *kind = PyObject_GetAttr(*raw, d->name_kind);
    if (kind == NULL) {
        return -1;
    }
    PyObject *bold_only = PyObject_GetAttr(*raw, d->name_bold_only);
    if (bold_only == NULL) {
        Py_DECREF(kind);
        return -1;
    }
    PyObject *replacement = make_raw(d, kind, new_text, bold_only);
    Py_DECREF(kind);
    Py_DECREF(bold_only);
    if (replacement == NULL) {
        return -1;
    }
    Py_SETREF(*raw, replacement);
    /* later steps read `raw.text` again, as the Python code does */
    PyObject *replacement_text = PyObject_GetAttr(replacement, d->name_text);
    if (replacement_text == NULL) {
        return -1;
    }
    Py_SETREF(*text, replacement_text);
    return 0;
}

/* The contained branch of _Deduper.add: a block that says all that earlier, shorter blocks do
 * (`similar->contained`, already without those a fuller copy replaced) takes the first one's
 * place; what was kept since that it also says is dropped. */
static int
replace_contained(Deduper *d, Query *query, PyObject *text, const Similar *similar)
{
    Py_ssize_t first = similar->contained[0];
    Block *block = &d->blocks[first];
    PyObject **slot = &d->kept[block->position];
    PyObject *earlier_kind = PyObject_GetAttr(*slot, d->name_kind);
    if (earlier_kind == NULL) {
        return -1;
    }
    PyObject *replacement = make_raw(d, earlier_kind, text, NULL);
    Py_DECREF(earlier_kind);
    if (replacement == NULL) {
        return -1;
    }
    Py_SETREF(*slot, replacement);
    /* keys[first] = key; shingles[first] = None; sampled[first] = sampled (grams stay: see Block) */
    Py_UCS4 *key = PyMem_Malloc(sizeof(Py_UCS4) * (size_t)(query->len ? query->len : 1));
    uint64_t *sampled = PyMem_Malloc(sizeof(uint64_t) * (size_t)(query->sampled.n ? query->sampled.n : 1));
    if (key == NULL || sampled == NULL) {
        PyMem_Free(key);
        PyMem_Free(sampled);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(key, query->chars, sizeof(Py_UCS4) * (size_t)query->len);
    memcpy(sampled, query->sampled.items, sizeof(uint64_t) * (size_t)query->sampled.n);
    PyMem_Free(block->key);
    block->key = key;
    block->key_len = query->len;
    shingles_clear(&block->shingles);
    block->has_shingles = 0;
    shingles_clear(&block->sampled);
    block->sampled.items = sampled;
    block->sampled.n = query->sampled.n;
    for (Py_ssize_t s = 0; s < query->sampled.n; s++) {
        Posting *posting = postings_get(&d->postings, query->sampled.items[s]);
        if (posting == NULL) {
            return -1;
        }
        int present = 0;
        for (Py_ssize_t k = 0; k < posting->n && !present; k++) {
            present = posting->ids[k] == first;
        }
        if (!present && posting_append(posting, first) < 0) {
            return -1;
        }
    }
    for (Py_ssize_t k = 0; k < similar->n_nearby; k++) {
        Py_ssize_t ident = similar->nearby[k];
        if (ident <= first || is_dropped(d, ident)) {
            continue;
        }
        const ShingleSet *mine, *other;
        if (pair(d, query, ident, &mine, &other) < 0) {
            return -1;
        }
        int drop = (double)common_shingles(mine, other) >= CONTAIN_DUP * (double)other->n;
        for (Py_ssize_t c = 0; c < similar->n_contained && !drop; c++) {
            drop = similar->contained[c] == ident;
        }
        if (drop) {
            Py_SETREF(d->kept[d->blocks[ident].position], Py_NewRef(d->dropped));
        }
    }
    PyObject *pieces = pieces_of(d, text);
    if (pieces == NULL) {
        return -1;
    }
    int rc = remember_sentences(d, pieces);
    Py_DECREF(pieces);
    return rc;
}

/* _Deduper.add */
static int
add(Deduper *d, PyObject *raw_in)
{
    int rc = -1;
    PyObject *raw = Py_NewRef(raw_in);
    PyObject *text = NULL, *key = NULL, *novel = NULL, *pieces = NULL, *rest = NULL;
    Query query = {0};
    Similar similar = {0};
    similar.duplicate_of = -1;

    PyObject *kind = PyObject_GetAttr(raw, d->name_kind);
    if (kind == NULL) {
        goto done;
    }
    int structural = is_break_or_heading(d, kind);
    Py_DECREF(kind);
    if (structural != 0) {
        rc = structural < 0 ? -1 : keep(d, raw);
        goto done;
    }
    text = PyObject_GetAttr(raw, d->name_text);
    if (text == NULL) {
        goto done;
    }
    int seen = PySet_Contains(d->exact_text, text); /* most repeats are byte-for-byte */
    if (seen != 0) {
        rc = seen < 0 ? -1 : 0;
        goto done;
    }
    if (PySet_Add(d->exact_text, text) < 0 || (key = dedup_key(d, text)) == NULL) {
        goto done;
    }
    if (PyUnicode_GET_LENGTH(key) == 0 || (seen = PySet_Contains(d->exact, key)) != 0) {
        rc = seen < 0 ? -1 : 0;
        goto done;
    }
    if (PySet_Add(d->exact, key) < 0) {
        goto done;
    }
    if (PyUnicode_GET_LENGTH(key) < MIN_DUP_CHARS) {
        rc = keep(d, raw);
        goto done;
    }
    if (query_init(&query, Py_NewRef(key)) < 0 || find_similar(d, &query, &similar) < 0) {
        goto done;
    }
    if (similar.duplicate_of >= 0) {
        /* a near-copy often rewrites a paragraph and adds a sentence of its own: keep that one */
        novel = novel_sentences(d, text, similar.duplicate_of);
        if (novel == NULL || novel == Py_None) {
            rc = novel == NULL ? -1 : 0;
            goto done;
        }
        if (replace_raw(d, &raw, &text, novel) < 0) {
            goto done;
        }
        Py_SETREF(key, dedup_key(d, novel));
        if (key == NULL) {
            goto done;
        }
        if (PyUnicode_GET_LENGTH(key) < MIN_DUP_CHARS) {
            rc = 0;
            goto done;
        }
        if (query_init(&query, Py_NewRef(key)) < 0 || find_similar(d, &query, &similar) < 0) {
            goto done;
        }
        if (similar.duplicate_of >= 0) {
            rc = 0;
            goto done;
        }
        similar.n_contained = 0;
    }
    /* a copy already replaced by a fuller one has no place of its own left to take */
    Py_ssize_t n_contained = 0;
    for (Py_ssize_t k = 0; k < similar.n_contained; k++) {
        if (!is_dropped(d, similar.contained[k])) {
            similar.contained[n_contained++] = similar.contained[k];
        }
    }
    similar.n_contained = n_contained;
    if (n_contained > 0) {
        rc = replace_contained(d, &query, text, &similar);
        goto done;
    }
    if ((pieces = pieces_of(d, text)) == NULL || (rest = without_seen_sentences(d, text, pieces)) == NULL) {
        goto done;
    }
    if (rest == Py_None) {
        rc = 0;
        goto done;
    }
    int changed = PyObject_RichCompareBool(rest, text, Py_NE);
    if (changed < 0) {
        goto done;
    }
    if (changed) {
        if (replace_raw(d, &raw, &text, rest) < 0) {
            goto done;
        }
        Py_SETREF(key, dedup_key(d, text));
        if (key == NULL) {
            goto done;
        }
        if (query_init(&query, Py_NewRef(key)) < 0 || find_similar(d, &query, &similar) < 0) {
            goto done;
        }
        if (similar.duplicate_of >= 0) {
            rc = 0;
            goto done;
        }
        Py_SETREF(pieces, pieces_of(d, text));
        if (pieces == NULL) {
            goto done;
        }
    }
    if (remember_sentences(d, pieces) < 0) {
        goto done;
    }
    Py_ssize_t ident = add_block(d, &query);
    if (ident < 0) {
        goto done;
    }
    const ShingleSet *sampled = &d->blocks[ident].sampled;
    for (Py_ssize_t s = 0; s < sampled->n; s++) {
        Posting *posting = postings_get(&d->postings, sampled->items[s]);
        if (posting == NULL || posting_append(posting, ident) < 0) {
            goto done;
        }
    }
    rc = keep(d, raw);
done:
    similar_clear(&similar);
    query_clear(&query);
    Py_XDECREF(rest);
    Py_XDECREF(pieces);
    Py_XDECREF(novel);
    Py_XDECREF(key);
    Py_XDECREF(text);
    Py_DECREF(raw);
    return rc;
}

static void
deduper_free(Deduper *d)
{
    for (Py_ssize_t i = 0; i < d->n_kept; i++) {
        Py_DECREF(d->kept[i]);
    }
    PyMem_Free(d->kept);
    for (Py_ssize_t i = 0; i < d->n_blocks; i++) {
        PyMem_Free(d->blocks[i].key);
        PyMem_Free(d->blocks[i].sampled.items);
        PyMem_Free(d->blocks[i].shingles.items);
        PyMem_Free(d->blocks[i].grams.items);
    }
    PyMem_Free(d->blocks);
    PyMem_Free(d->counts);
    PyMem_Free(d->touched);
    postings_free(&d->postings);
    Py_XDECREF(d->exact_text);
    Py_XDECREF(d->exact);
    Py_XDECREF(d->sentences);
    Py_XDECREF(d->name_kind);
    Py_XDECREF(d->name_text);
    Py_XDECREF(d->name_bold_only);
    Py_XDECREF(d->kind_break);
    Py_XDECREF(d->kind_heading);
    Py_XDECREF(d->empty);
    Py_XDECREF(d->bold_only_kwnames);
}

static int
deduper_init(Deduper *d)
{
    if ((d->exact_text = PySet_New(NULL)) == NULL || (d->exact = PySet_New(NULL)) == NULL
        || (d->sentences = PySet_New(NULL)) == NULL || (d->name_kind = PyUnicode_InternFromString("kind")) == NULL
        || (d->name_text = PyUnicode_InternFromString("text")) == NULL
        || (d->name_bold_only = PyUnicode_InternFromString("bold_only")) == NULL
        || (d->kind_break = PyUnicode_FromString("break")) == NULL
        || (d->kind_heading = PyUnicode_FromString("heading")) == NULL
        || (d->empty = PyUnicode_FromString("")) == NULL
        || (d->bold_only_kwnames = PyTuple_Pack(1, d->name_bold_only)) == NULL) {
        return -1;
    }
    return postings_init(&d->postings, 1024);
}

static PyObject *
dedupe(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "dedupe(raws, raw_class, dropped, sentence_pieces, fold) takes 5 arguments");
        return NULL;
    }
    if (!PyCallable_Check(args[1]) || !PyCallable_Check(args[3]) || !PyCallable_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "dedupe(): raw_class, sentence_pieces and fold must be callable");
        return NULL;
    }
    Deduper d;
    memset(&d, 0, sizeof(d));
    d.raw_class = args[1];
    d.dropped = args[2];
    d.sentence_pieces = args[3];
    d.fold = args[4];
    PyObject *result = NULL;
    PyObject *iterator = NULL;
    if (deduper_init(&d) < 0 || (iterator = PyObject_GetIter(args[0])) == NULL) {
        goto done;
    }
    PyObject *raw;
    while ((raw = PyIter_Next(iterator)) != NULL) {
        int rc = add(&d, raw);
        Py_DECREF(raw);
        if (rc < 0) {
            goto done;
        }
    }
    if (PyErr_Occurred()) {
        goto done;
    }
    /* [raw for raw in kept if raw is not _DROPPED] */
    result = PyList_New(0);
    for (Py_ssize_t i = 0; result != NULL && i < d.n_kept; i++) {
        if (d.kept[i] != d.dropped && PyList_Append(result, d.kept[i]) < 0) {
            Py_CLEAR(result);
        }
    }
done:
    Py_XDECREF(iterator);
    deduper_free(&d);
    return result;
}

static PyObject *
dedup_strip(PyObject *module, PyObject *text)
{
    (void)module;
    return strip_for_key(text);
}

static PyObject *
fold_when_exact(PyObject *module, PyObject *text)
{
    (void)module;
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "expected a str, not %.100s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    PyObject *folded = fold_fast(text);
    if (folded == NULL && !PyErr_Occurred()) {
        Py_RETURN_NONE;
    }
    return folded;
}

static PyMethodDef methods[] = {
    {"dedupe", (PyCFunction)(void (*)(void))dedupe, METH_FASTCALL,
     "dedupe(raws, raw_class, dropped, sentence_pieces, fold): near_duplicates.dedupe's blocks, computed in C."},
    {"sentence_pieces", sentence_pieces, METH_O,
     "sentences.sentence_pieces in C: the sentences of a text with their trailing spaces, lossless."},
    {"dedup_strip", dedup_strip, METH_O,
     "What dedup_key strips a text to before folding it: re.sub(r\"[\\s\\W_]+\", \"\", text)."},
    {"fold_when_exact", fold_when_exact, METH_O,
     "textnorm.fold(text) computed here when every character folds to itself or its ASCII lower case, else None."},
    {NULL, NULL, 0, NULL},
};

/* The module's constants, for the test that checks they are still near_duplicates.py's. */
static int
exec_module(PyObject *module)
{
    PyObject *abbreviations = PyTuple_New(sizeof(ABBREVIATIONS) / sizeof(ABBREVIATIONS[0]));
    if (abbreviations == NULL) {
        return -1;
    }
    for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(abbreviations); k++) {
        PyObject *word = PyUnicode_FromString(ABBREVIATIONS[k]);
        if (word == NULL) {
            Py_DECREF(abbreviations);
            return -1;
        }
        PyTuple_SET_ITEM(abbreviations, k, word);
    }
    PyObject *constants = Py_BuildValue(
        "{s:i,s:i,s:i,s:i,s:d,s:d,s:i,s:i,s:d,s:s,s:s,s:s,s:i,s:N}", "_SHINGLE", SHINGLE, "_MIN_SENTENCE_CHARS",
        MIN_SENTENCE_CHARS, "_MAX_POSTING", MAX_POSTING, "_MIN_SAMPLE", MIN_SAMPLE, "_JACCARD_DUP", JACCARD_DUP,
        "_CONTAIN_DUP", CONTAIN_DUP, "_MIN_DUP_CHARS", MIN_DUP_CHARS, "_GRAM", GRAM, "_NOVEL_SHARE", NOVEL_SHARE,
        "particles", PARTICLES, "OPENERS", OPENERS, "CLOSERS", CLOSERS, "_LONGEST_WORD", LONGEST_WORD,
        "_ABBREVIATIONS", abbreviations);
    if (constants == NULL) {
        return -1;
    }
    if (PyModule_AddObject(module, "CONSTANTS", constants) < 0) {
        Py_DECREF(constants);
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot slots[] = {
    {Py_mod_exec, exec_module},
    {0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_near_duplicates_c", "near_duplicates' deduper in C.", 0, methods, slots, NULL, NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__near_duplicates_c(void)
{
    return PyModuleDef_Init(&module_def);
}
