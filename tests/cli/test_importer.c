/*
 * test_importer.c - files to memory documents (src/cli/importer.h) and the
 * import progress line (src/cli/progress.h), without a server.
 *
 *   JSONL  content / title+text / --content-field; other string and
 *          number fields as metadata; our own document fields (kind,
 *          agent, tags, importance, metadata) and the flags' defaults;
 *          skipped lines with their line numbers and reasons
 *   CSV    the content column by name and preference, --content-field,
 *          every column joined when none is named; metadata; rows with
 *          the wrong field count, bad quotes or bytes skipped; a header
 *          without the --content-field column skips the file
 *   text   one document per file; empty, not UTF-8 and oversized files
 *
 * Each case reads a file held in memory (fmemopen) and renders what came
 * out as one line per item: "LINE doc <compact JSON>" or
 * "LINE skip <reason>: <detail>", so expectations read like the output.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/importer.h"
#include "cli/progress.h"
#include "core/fs.h"
#include "memory/memory.h"

/* Every item of data read as fmt with opts, one line each. */
static char *items(imp_format fmt, const char *data, size_t len,
                   const imp_opts *opts)
{
    FILE *f = fmemopen((void *)data, len ? len : 1, "r");
    cr_assert_not_null(f);
    if (!len) fgetc(f); /* fmemopen wants a size; read the byte away */
    imp_reader *r;
    imp_item it;
    cr_assert_eq(imp_open(&r, f, fmt, "src.x", opts), 0);
    char *out = NULL;
    size_t n = 0;
    FILE *o = open_memstream(&out, &n);
    int rc;
    bool file_skipped = false;
    while ((rc = imp_next(r, &it)) == 1) {
        file_skipped = it.why == IMP_SKIP_FILE;
        if (it.doc) {
            char *j = json_dumps(it.doc, JSON_COMPACT | JSON_SORT_KEYS);
            fprintf(o, "%llu doc %s\n", (unsigned long long)it.line, j);
            free(j);
        } else {
            fprintf(o, "%llu skip %s: %s\n", (unsigned long long)it.line,
                    imp_skip_name(it.why), it.detail);
        }
        imp_item_clear(&it);
    }
    cr_assert_eq(rc, 0, "imp_next: %d", rc);
    if (len && !file_skipped) cr_assert_eq(imp_offset(r), len);
    imp_close(r);
    fclose(f);
    fclose(o);
    return out;
}

#define expect(fmt, data, opts, want)                                          \
    do {                                                                       \
        char *got_ = items((fmt), (data), sizeof(data) - 1, (opts));           \
        cr_assert_str_eq(got_, (want), "input:\n%s\ngot:\n%s", (data), got_);  \
        free(got_);                                                            \
    } while (0)

TestSuite(importer, .timeout = 30);

/* ---- JSONL -------------------------------------------------------------- */

Test(importer, jsonl_content_and_metadata)
{
    expect(IMP_JSONL,
           "{\"content\":\"hello\",\"n\":3,\"x\":1.5,\"who\":\"ana\","
           "\"flag\":true,\"list\":[1],\"obj\":{},\"nothing\":null}\n",
           NULL,
           "1 doc {\"content\":\"hello\",\"metadata\":{\"line\":1,\"n\":3,"
           "\"source\":\"src.x\",\"who\":\"ana\",\"x\":1.5}}\n");
}

Test(importer, jsonl_title_and_text_are_joined_as_in_beir)
{
    expect(IMP_JSONL,
           "{\"_id\":\"4983\",\"title\":\"Brains\",\"text\":\"White "
           "matter.\"}\n"
           "{\"text\":\"only text\",\"title\":\"\"}\n"
           "{\"title\":\"only title\",\"text\":\" \"}\n",
           NULL,
           "1 doc {\"content\":\"Brains\\n\\nWhite matter.\",\"metadata\":"
           "{\"_id\":\"4983\",\"line\":1,\"source\":\"src.x\"}}\n"
           "2 doc {\"content\":\"only text\",\"metadata\":{\"line\":2,"
           "\"source\":\"src.x\",\"title\":\"\"}}\n"
           "3 doc {\"content\":\"only title\",\"metadata\":{\"line\":3,"
           "\"source\":\"src.x\"}}\n");
}

Test(importer, jsonl_content_field_flag)
{
    imp_opts o = {.content_field = "body"};
    expect(
        IMP_JSONL,
        "{\"body\":\"b\",\"content\":\"c\"}\n{\"content\":\"c\"}\n"
        "{\"body\":5}\n",
        &o,
        "1 doc {\"content\":\"b\",\"metadata\":{\"content\":\"c\",\"line\":1,"
        "\"source\":\"src.x\"}}\n"
        "2 skip no content: no string field \"body\"\n"
        "3 skip no content: no string field \"body\"\n");
}

Test(importer, jsonl_document_fields_and_flag_defaults)
{
    const char *tags[] = {"t1", "shared"};
    imp_opts o = {.kind = "note", .agent = "cli", .tags = tags, .ntags = 2};
    expect(IMP_JSONL,
           "{\"content\":\"a\"}\n"
           "{\"content\":\"b\",\"kind\":\"email\",\"agent\":\"bot\","
           "\"tags\":[\"shared\",\"own\"],\"importance\":0.5,"
           "\"metadata\":{\"source\":\"crm\",\"k\":[1]},\"k\":\"top\"}\n",
           &o,
           "1 doc {\"agent\":\"cli\",\"content\":\"a\",\"kind\":\"note\","
           "\"metadata\":{\"line\":1,\"source\":\"src.x\"},\"tags\":[\"t1\","
           "\"shared\"]}\n"
           "2 doc {\"agent\":\"bot\",\"content\":\"b\",\"importance\":0.5,"
           "\"kind\":\"email\",\"metadata\":{\"k\":[1],\"line\":2,"
           "\"source\":\"crm\"},\"tags\":[\"t1\",\"shared\",\"own\"]}\n");
}

Test(importer, jsonl_bad_lines_are_skipped_with_their_line)
{
    expect(IMP_JSONL,
           "\n"
           "not json\n"
           "[1,2]\n"
           "{\"title\":\"t\"}\n"
           "{\"content\":7}\n"
           "{\"text\":[\"x\"]}\n"
           "{\"content\":\"  \\n\\t\"}\n"
           "{\"content\":\"x\",\"kind\":5}\n"
           "{\"content\":\"x\",\"importance\":2}\n"
           "{\"content\":\"x\",\"tags\":\"one\"}\n"
           "{\"content\":\"x\",\"tags\":[\"\"]}\n"
           "{\"content\":\"x\",\"metadata\":[]}\n"
           "{\"content\":\"bad \xff byte\"}\r\n"
           "   \r\n"
           "{\"content\":\"last\"}\r\n",
           NULL,
           "2 skip not a JSON object: not valid JSON: '[' or '{' expected "
           "near 'not' (column 3)\n"
           "3 skip not a JSON object: not a JSON object\n"
           "4 skip no content: no \"content\" or \"text\" field\n"
           "5 skip no content: \"content\" is not a string\n"
           "6 skip no content: \"text\" is not a string\n"
           "7 skip empty content: the content is empty\n"
           "8 skip bad field: field \"kind\" has the wrong type\n"
           "9 skip bad field: field \"importance\" has the wrong type\n"
           "10 skip bad field: field \"tags\" has the wrong type\n"
           "11 skip bad field: field \"tags\" has the wrong type\n"
           "12 skip bad field: field \"metadata\" has the wrong type\n"
           "13 skip not UTF-8: not UTF-8: unable to decode byte 0xff near "
           "'\"bad ' (column 16)\n"
           "15 doc {\"content\":\"last\",\"metadata\":{\"line\":15,\"source\":"
           "\"src.x\"}}\n");
}

Test(importer, jsonl_too_many_tags)
{
    char line[2000] = "{\"content\":\"x\",\"tags\":[";
    for (int i = 0; i < 65; i++)
        sprintf(line + strlen(line), "%s\"t%d\"", i ? "," : "", i);
    strcat(line, "]}\n");
    char *got = items(IMP_JSONL, line, strlen(line), NULL);
    cr_assert_str_eq(got, "1 skip bad field: more than 64 tags\n");
    free(got);
}

Test(importer, jsonl_a_byte_order_mark_and_no_final_newline)
{
    expect(IMP_JSONL, "\xef\xbb\xbf{\"text\":\"a\"}", NULL,
           "1 doc {\"content\":\"a\",\"metadata\":{\"line\":1,\"source\":"
           "\"src.x\"}}\n");
}

/* ---- CSV ---------------------------------------------------------------- */

Test(importer, csv_content_column_by_preference)
{
    /* description < notes < text < content, whatever the column order. */
    expect(IMP_CSV,
           "Description,NOTES,id\r\n"
           "d1,\"n1, with a comma\",7\r\n"
           "d2,,8\r\n",
           NULL,
           "2 doc {\"content\":\"n1, with a comma\",\"metadata\":"
           "{\"Description\":\"d1\",\"id\":\"7\",\"line\":2,\"source\":"
           "\"src.x\"}}\n"
           "3 skip empty content: the content is empty\n");
    expect(IMP_CSV, "notes,text\nn,t\n", NULL,
           "2 doc {\"content\":\"t\",\"metadata\":{\"line\":2,\"notes\":\"n\","
           "\"source\":\"src.x\"}}\n");
}

Test(importer, csv_content_field_flag)
{
    imp_opts o = {.content_field = "Body"};
    expect(IMP_CSV, "id,body\n1,\"multi\nline\"\n", &o,
           "2 doc {\"content\":\"multi\\nline\",\"metadata\":{\"id\":\"1\","
           "\"line\":2,\"source\":\"src.x\"}}\n");
    imp_opts missing = {.content_field = "nope"};
    expect(IMP_CSV, "id,body\n1,x\n2,y\n", &missing,
           "1 skip unusable file: no column \"nope\" in the header\n");
}

Test(importer, csv_without_a_content_column_joins_every_column)
{
    expect(IMP_CSV,
           "account,stage,value\n"
           "Acme,Won,1054\n"
           "Globex,,\n",
           NULL,
           "2 doc {\"content\":\"account: Acme\\nstage: Won\\nvalue: 1054\","
           "\"metadata\":{\"account\":\"Acme\",\"line\":2,\"source\":\"src.x\","
           "\"stage\":\"Won\",\"value\":\"1054\"}}\n"
           "3 doc {\"content\":\"account: Globex\",\"metadata\":{\"account\":"
           "\"Globex\",\"line\":3,\"source\":\"src.x\"}}\n");
}

Test(importer, csv_bad_rows_are_skipped_and_reading_goes_on)
{
    expect(IMP_CSV,
           "id,text\n"
           "1,one\n"
           "2\n"
           "3,three,extra\n"
           "4,\"bad \xc3\x28 utf8\"\n"
           "5,\"embedded\r\nnewline\"\n"
           "6,\"never closed\n"
           "7,seven\n",
           NULL,
           "2 doc {\"content\":\"one\",\"metadata\":{\"id\":\"1\",\"line\":2,"
           "\"source\":\"src.x\"}}\n"
           "3 skip wrong number of fields: 1 fields, the header has 2\n"
           "4 skip wrong number of fields: 3 fields, the header has 2\n"
           "5 skip not UTF-8: column \"text\" is not UTF-8\n"
           "6 doc {\"content\":\"embedded\\r\\nnewline\",\"metadata\":"
           "{\"id\":\"5\",\"line\":6,\"source\":\"src.x\"}}\n"
           "8 skip malformed CSV: unterminated quoted field\n");
}

Test(importer, csv_header_edge_cases)
{
    expect(IMP_CSV, "", NULL, "");
    expect(IMP_CSV, "a,b\n", NULL, "");
    expect(
        IMP_CSV, ",text\nx,y\n", NULL,
        "2 doc {\"content\":\"y\",\"metadata\":{\"column_1\":\"x\",\"line\":2,"
        "\"source\":\"src.x\"}}\n");
    expect(IMP_CSV, "\"open,text\nx\n", NULL,
           "1 skip unusable file: the header row: unterminated quoted field\n");
    expect(IMP_CSV, "te\xffxt\nx\n", NULL,
           "1 skip unusable file: the header row is not UTF-8\n");
}

/* ---- text --------------------------------------------------------------- */

Test(importer, text_file_is_one_document)
{
    const char *tags[] = {"docs"};
    imp_opts o = {.kind = "page", .tags = tags, .ntags = 1};
    expect(IMP_TEXT, "\xef\xbb\xbf# Title\n\nBody, with \"quotes\".\n", &o,
           "0 doc {\"content\":\"# Title\\n\\nBody, with \\\"quotes\\\".\\n\","
           "\"kind\":\"page\",\"metadata\":{\"source\":\"src.x\"},\"tags\":"
           "[\"docs\"]}\n");
    expect(IMP_TEXT, "", NULL, "0 skip empty content: the content is empty\n");
    expect(IMP_TEXT, " \n\n", NULL,
           "0 skip empty content: the content is empty\n");
    expect(IMP_TEXT, "caf\xe9\n", NULL,
           "0 skip not UTF-8: the file is not UTF-8 text\n");
    expect(IMP_TEXT, "nul\0byte", NULL,
           "0 skip not UTF-8: the file is not UTF-8 text\n");
}

Test(importer, text_file_over_the_content_limit_is_skipped)
{
    size_t n = MEMORY_MAX_CONTENT + 1;
    char *big = malloc(n);
    memset(big, 'a', n);
    FILE *f = fmemopen(big, n, "r");
    imp_reader *r;
    imp_item it;
    imp_open(&r, f, IMP_TEXT, "big.txt", NULL);
    cr_assert_eq(imp_next(r, &it), 1);
    cr_assert_null(it.doc);
    cr_assert_eq(it.why, IMP_SKIP_TOO_LONG);
    cr_assert_eq(imp_next(r, &it), 0);
    imp_close(r);
    fclose(f);
    free(big);
}

/* ---- names -------------------------------------------------------------- */

Test(importer, formats_from_names_and_flags)
{
    cr_assert_eq(imp_format_of("a/b.jsonl"), IMP_JSONL);
    cr_assert_eq(imp_format_of("x.NDJSON"), IMP_JSONL);
    cr_assert_eq(imp_format_of("x.Csv"), IMP_CSV);
    cr_assert_eq(imp_format_of("notes.md"), IMP_TEXT);
    cr_assert_eq(imp_format_of("notes.txt"), IMP_TEXT);
    cr_assert_eq(imp_format_of("x.json"), IMP_AUTO);
    cr_assert_eq(imp_format_of(".csv"), IMP_AUTO);
    imp_format f;
    cr_assert(imp_format_parse("csv", &f) && f == IMP_CSV);
    cr_assert(imp_format_parse("auto", &f) && f == IMP_AUTO);
    cr_assert(!imp_format_parse("CSV", &f));
    cr_assert(!imp_format_parse("xml", &f));
    cr_assert_str_eq(imp_format_name(IMP_TEXT), "text");
    imp_reader *r;
    cr_assert_eq(imp_open(&r, stdin, IMP_AUTO, "x", NULL), FS_EINVAL);
}

/* ---- progress ----------------------------------------------------------- */

Test(importer, progress_line)
{
    char buf[200];
    progress_format(buf, sizeof buf, 1823, 35, 100, 4.4, "corpus.jsonl");
    cr_assert_str_eq(buf, "[#######-------------]  35%  1,823 docs  414 "
                          "docs/s  ETA 8s  corpus.jsonl");
    progress_format(buf, sizeof buf, 0, 0, 100, 0.1, NULL);
    cr_assert_str_eq(buf, "[--------------------]   0%  0 docs  0 docs/s  "
                          "ETA --");
    progress_format(buf, sizeof buf, 5, 10, 10, 2,
                    "a/very/long/path/to/"
                    "some/folder/notes.md");
    cr_assert_str_eq(buf, "[####################] 100%  5 docs  2 docs/s  "
                          "ETA 0s  ...path/to/some/folder/notes.md");
}

Test(importer, counts_and_spans)
{
    char buf[32];
    progress_count(buf, sizeof buf, 0);
    cr_assert_str_eq(buf, "0");
    progress_count(buf, sizeof buf, 999);
    cr_assert_str_eq(buf, "999");
    progress_count(buf, sizeof buf, 1000);
    cr_assert_str_eq(buf, "1,000");
    progress_count(buf, sizeof buf, 1234567);
    cr_assert_str_eq(buf, "1,234,567");
    progress_span(buf, sizeof buf, 8.4);
    cr_assert_str_eq(buf, "8s");
    progress_span(buf, sizeof buf, 125);
    cr_assert_str_eq(buf, "2m05s");
    progress_span(buf, sizeof buf, 3720);
    cr_assert_str_eq(buf, "1h02m");
}
