/* report.h — a sync run's report (the JSON from sync.h) for people and CI:
 * a per-wave table, a per-object summary, JUnit XML (one test case per
 * object). Pure: returns text. */
#ifndef WS_REPORT_H
#define WS_REPORT_H

#include <jansson.h>

/* The per-wave table and the failed objects, as printed after a sync.
 * Caller frees. */
char *ws_report_text(const json_t *report);

/* JUnit XML for one or more reports (an array). Caller frees. */
char *ws_report_junit(const json_t *reports);

/* XML-escape into a new string. Caller frees. */
char *ws_xml_escape(const char *s);

#endif
