"""The report's words in English and Bahasa Indonesia (the city's own staff read the latter).

Every label a report shows comes from here; `tests/test_report.py` checks that both
languages have every key and that the Indonesian report carries no English label.
"""

from __future__ import annotations

import datetime as dt

LABELS: dict[str, dict[str, str]] = {
    "title": {"en": "CCTV provider report", "id": "Laporan penyedia CCTV"},
    "period": {"en": "Period", "id": "Periode"},
    "timezone": {"en": "Time zone", "id": "Zona waktu"},
    "generated": {"en": "Generated", "id": "Dibuat"},
    "summary": {"en": "Summary", "id": "Ringkasan"},
    "provider": {"en": "Provider", "id": "Penyedia"},
    "total": {"en": "All providers", "id": "Semua penyedia"},
    "installed_vs_target": {"en": "Installed vs target", "id": "Terpasang vs target"},
    "claimed": {"en": "Claimed installed", "id": "Terpasang (klaim)"},
    "configured": {"en": "Configured", "id": "Terkonfigurasi"},
    "verified": {"en": "Verified (answered)", "id": "Terverifikasi (menjawab)"},
    "up_now": {"en": "Up at period end", "id": "Aktif di akhir periode"},
    "target": {"en": "Target", "id": "Target"},
    "integrated": {"en": "Smart-city integrated", "id": "Terintegrasi smart city"},
    "ring_one": {"en": "Ring-one reaching the command centre", "id": "Ring satu terhubung ke pusat komando"},
    "police_connected": {"en": "Police-connected", "id": "Terhubung ke kepolisian"},
    "availability": {"en": "Availability", "id": "Ketersediaan"},
    "sla": {"en": "SLA", "id": "SLA"},
    "meets_sla": {"en": "Meets SLA", "id": "Memenuhi SLA"},
    "yes": {"en": "yes", "id": "ya"},
    "no": {"en": "no", "id": "tidak"},
    "no_data": {"en": "no data", "id": "tidak ada data"},
    "availability_vs_sla": {"en": "Availability vs SLA", "id": "Ketersediaan vs SLA"},
    "eligible_hours": {"en": "Measured camera-hours", "id": "Jam-kamera terukur"},
    "down_hours": {"en": "Counted downtime (h)", "id": "Waktu mati dihitung (jam)"},
    "excluded_hours": {"en": "Excluded downtime (h)", "id": "Waktu mati dikecualikan (jam)"},
    "daily": {"en": "Daily availability", "id": "Ketersediaan harian"},
    "by_cause": {"en": "Downtime by cause", "id": "Waktu mati menurut penyebab"},
    "cause_camera": {"en": "Camera", "id": "Kamera"},
    "cause_link": {"en": "Link", "id": "Jaringan"},
    "cause_feed": {"en": "Feed", "id": "Umpan"},
    "cause_maintenance": {"en": "Maintenance", "id": "Pemeliharaan"},
    "cause_monitor_down": {"en": "Monitor down", "id": "Monitor mati"},
    "hours": {"en": "hours", "id": "jam"},
    "worst": {"en": "Worst cameras", "id": "Kamera terburuk"},
    "camera": {"en": "Camera", "id": "Kamera"},
    "outages_count": {"en": "Outages", "id": "Gangguan"},
    "downtime": {"en": "Downtime", "id": "Waktu mati"},
    "milestones": {"en": "Milestones and forecast", "id": "Tonggak dan perkiraan"},
    "milestone_by": {"en": "Due", "id": "Tenggat"},
    "milestone_cameras": {"en": "Cameras due", "id": "Kamera wajib"},
    "milestone_status": {"en": "Status", "id": "Status"},
    "status_met": {"en": "met", "id": "tercapai"},
    "status_missed": {"en": "missed", "id": "terlewat"},
    "status_upcoming": {"en": "upcoming", "id": "mendatang"},
    "pace": {"en": "Pace (verified per week, last 4 weeks)", "id": "Laju (terverifikasi per minggu, 4 minggu terakhir)"},
    "forecast": {"en": "Target reached at this pace", "id": "Target tercapai pada laju ini"},
    "never": {"en": "not at this pace", "id": "tidak pada laju ini"},
    "reached": {"en": "reached", "id": "tercapai"},
    "outages": {"en": "Every outage", "id": "Semua gangguan"},
    "start": {"en": "Start", "id": "Mulai"},
    "end": {"en": "End", "id": "Selesai"},
    "duration": {"en": "Duration", "id": "Durasi"},
    "reason": {"en": "Reason", "id": "Alasan"},
    "cause": {"en": "Cause", "id": "Penyebab"},
    "kind": {"en": "Kind", "id": "Jenis"},
    "excluded": {"en": "Excluded", "id": "Dikecualikan"},
    "excluded_maintenance": {"en": "maintenance", "id": "pemeliharaan"},
    "excluded_link": {"en": "link", "id": "jaringan"},
    "excluded_monitor_down": {"en": "monitor down", "id": "monitor mati"},
    "kind_camera": {"en": "camera", "id": "kamera"},
    "kind_feed": {"en": "feed", "id": "umpan"},
    "more_outages": {"en": "{n} more outages are listed in outages.csv.",
                     "id": "{n} gangguan lainnya tercantum di outages.csv."},
    "no_outages": {"en": "No outage in this period.", "id": "Tidak ada gangguan pada periode ini."},
    "monitor_down_total": {"en": "Monitor downtime in the period", "id": "Waktu monitor mati dalam periode"},
    "clock_steps": {"en": "Steps of the monitor's wall clock (durations are measured on its monotonic clock and unaffected)",
                    "id": "Lompatan jam dinding monitor (durasi diukur dengan jam monotoniknya dan tidak terpengaruh)"},
    "method": {"en": "How availability is counted", "id": "Cara menghitung ketersediaan"},
    "method_text": {
        "en": "A camera-second counts as down only when the provider is answerable for it. "
              "Time in a maintenance window, time when the monitor itself was not running, and "
              "outages caused by the city's link to the command centre are excluded from both "
              "the downtime and the measured time, and listed. Periods are cut at midnight in "
              "the report's time zone. Counts at the period end are measured, not claimed: "
              "a camera is verified once it has answered at least once.",
        "id": "Satu detik-kamera dihitung mati hanya bila penyedia bertanggung jawab atasnya. "
              "Waktu dalam jendela pemeliharaan, waktu ketika monitor sendiri tidak berjalan, dan "
              "gangguan akibat jaringan kota ke pusat komando dikecualikan dari waktu mati maupun "
              "waktu terukur, dan dicantumkan. Periode dipotong pada tengah malam di zona waktu "
              "laporan. Jumlah di akhir periode diukur, bukan diklaim: kamera terverifikasi "
              "setelah menjawab setidaknya sekali."},
    "reports": {"en": "Reports", "id": "Laporan"},
    "month": {"en": "Month", "id": "Bulan"},
    "day": {"en": "Day", "id": "Hari"},
}

#: Disputes (monitor/history/disputes.py): the report's section and the provider portal's
#: pages and forms (monitor/portal.py).
LABELS.update({
    "excluded_dispute": {"en": "accepted dispute", "id": "sanggahan diterima"},
    "disputes": {"en": "Disputes", "id": "Sanggahan"},
    "no_disputes": {"en": "No dispute in this period.", "id": "Tidak ada sanggahan pada periode ini."},
    "dispute": {"en": "Dispute", "id": "Sanggahan"},
    "dispute_status": {"en": "Status", "id": "Status"},
    "status_pending": {"en": "pending (still counted)", "id": "menunggu (tetap dihitung)"},
    "status_accepted": {"en": "accepted (excluded)", "id": "diterima (dikecualikan)"},
    "status_rejected": {"en": "rejected (counted)", "id": "ditolak (dihitung)"},
    "dispute_counts": {"en": "{pending} pending, {accepted} accepted, {rejected} rejected",
                       "id": "{pending} menunggu, {accepted} diterima, {rejected} ditolak"},
    "disputed_hours": {"en": "Excluded by accepted disputes (h)",
                       "id": "Dikecualikan oleh sanggahan diterima (jam)"},
    "filed_by": {"en": "Filed by", "id": "Diajukan oleh"},
    "decided_by": {"en": "Decided by", "id": "Diputuskan oleh"},
    "note": {"en": "Note", "id": "Catatan"},
    "text": {"en": "Explanation", "id": "Penjelasan"},
    "pending_mark": {"en": "disputed, pending", "id": "disanggah, menunggu"},
    "preview": {"en": "PREVIEW, NOT FINAL: the period is not over and the figures will change.",
                "id": "PRATINJAU, BELUM FINAL: periode belum berakhir dan angka akan berubah."},
    "reason_power_cut": {"en": "power cut by the utility", "id": "pemadaman listrik oleh PLN"},
    "reason_road_works": {"en": "road works by the city", "id": "pekerjaan jalan oleh pemerintah kota"},
    "reason_access_denied": {"en": "access denied by the site owner",
                             "id": "akses ditolak oleh pemilik lokasi"},
    "reason_monitor_error": {"en": "monitor error", "id": "kesalahan monitor"},
    "reason_other": {"en": "other", "id": "lainnya"},
    "file_dispute": {"en": "File a dispute", "id": "Ajukan sanggahan"},
    "decide": {"en": "Decide", "id": "Putuskan"},
    "accept": {"en": "Accept", "id": "Terima"},
    "reject": {"en": "Reject", "id": "Tolak"},
    "decisions": {"en": "Decisions (audit list)", "id": "Keputusan (daftar audit)"},
    "camera_outages": {"en": "Camera outages", "id": "Gangguan kamera"},
    "span_hint": {"en": "Leave start and end empty to dispute the whole outage.",
                  "id": "Kosongkan mulai dan selesai untuk menyanggah seluruh gangguan."},
    "text_hint": {"en": "At most {n} characters; required for \"other\".",
                  "id": "Paling banyak {n} karakter; wajib untuk \"lainnya\"."},
    "filed": {"en": "Dispute {id} filed.", "id": "Sanggahan {id} diajukan."},
    "decided": {"en": "Decision recorded.", "id": "Keputusan dicatat."},
    "action": {"en": "Action", "id": "Tindakan"},
    "when": {"en": "When", "id": "Waktu"},
    "who": {"en": "Who", "id": "Oleh"},
    "seconds": {"en": "Seconds", "id": "Detik"},
    "nothing_stored": {"en": "nothing stored", "id": "tidak ada yang disimpan"},
    "err_required": {"en": "{what}: required", "id": "{what}: wajib diisi"},
    "err_too_long": {"en": "{what}: {n} characters, at most {max}",
                     "id": "{what}: {n} karakter, paling banyak {max}"},
    "err_control": {"en": "{what}: control characters are not allowed",
                    "id": "{what}: karakter kontrol tidak diizinkan"},
    "err_replayed": {"en": "this form was already sent", "id": "formulir ini sudah pernah dikirim"},
    "err_reason": {"en": "choose a reason from the list", "id": "pilih alasan dari daftar"},
    "err_no_outage": {"en": "no such outage", "id": "gangguan tidak ditemukan"},
    "err_not_camera": {"en": "only camera outages can be disputed",
                       "id": "hanya gangguan kamera yang dapat disanggah"},
    "err_span": {"en": "the disputed span must lie within the outage and end after it starts",
                 "id": "rentang yang disanggah harus berada di dalam gangguan dan berakhir setelah mulai"},
    "err_overlap": {"en": "dispute {id} already covers part of this span",
                    "id": "sanggahan {id} sudah mencakup sebagian rentang ini"},
    "err_no_dispute": {"en": "no such dispute", "id": "sanggahan tidak ditemukan"},
    "err_token": {"en": "the form's token is not valid (forged, expired or for another form): reload the page",
                  "id": "token formulir tidak sah (palsu, kedaluwarsa atau milik formulir lain): muat ulang halaman"},
    "err_site": {"en": "refused: the form came from another site",
                 "id": "ditolak: formulir berasal dari situs lain"},
    "err_large": {"en": "the form is too large: a text is at most {max} characters",
                  "id": "formulir terlalu besar: teks paling banyak {max} karakter"},
    "err_when": {"en": "start and end: YYYY-MM-DDTHH:MM:SS", "id": "mulai dan selesai: YYYY-MM-DDTHH:MM:SS"},
    "err_decision": {"en": "decision: accept or reject", "id": "keputusan: terima atau tolak"},
})

_MONTHS_ID = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
              "September", "Oktober", "November", "Desember")
_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")


class Words:
    def __init__(self, lang: str) -> None:
        if lang not in ("en", "id"):
            raise ValueError(f"--lang: expected en or id, got {lang!r}")
        self.lang = lang

    def __call__(self, key: str, **fmt: object) -> str:
        text = LABELS[key][self.lang]
        return text.format(**fmt) if fmt else text

    def number(self, value: float, digits: int = 0) -> str:
        """1,234.5 in English; 1.234,5 in Indonesian."""
        text = f"{value:,.{digits}f}"
        if self.lang == "id":
            text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
        return text

    def percent(self, ratio: float | None, digits: int = 2) -> str:
        if ratio is None:
            return self("no_data")
        return f"{self.number(ratio * 100, digits)}%"

    def date(self, d: dt.date) -> str:
        months = _MONTHS_ID if self.lang == "id" else _MONTHS_EN
        return f"{d.day} {months[d.month - 1]} {d.year}"

    def month(self, year: int, month: int) -> str:
        months = _MONTHS_ID if self.lang == "id" else _MONTHS_EN
        return f"{months[month - 1]} {year}"
