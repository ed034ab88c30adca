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
    "verified": {"en": "Verified (answered)", "id": "Terverifikasi (merespons)"},
    "up_now": {"en": "Up at period end", "id": "Aktif di akhir periode"},
    "target": {"en": "Target", "id": "Target"},
    # the configuration's claim; the measured counts are in the "reach_*" table
    "integrated": {"en": "Smart-city integrated (configured)", "id": "Terintegrasi smart city (terkonfigurasi)"},
    "ring_one": {"en": "Ring-one reaching the command centre", "id": "Ring 1 terhubung ke pusat komando"},
    "police_connected": {"en": "Police-connected at period end", "id": "Terhubung ke kepolisian di akhir periode"},
    "availability": {"en": "Availability", "id": "Ketersediaan"},
    "sla": {"en": "SLA", "id": "SLA"},
    "meets_sla": {"en": "Meets SLA", "id": "Memenuhi SLA"},
    "yes": {"en": "yes", "id": "ya"},
    "no": {"en": "no", "id": "tidak"},
    "no_data": {"en": "no data", "id": "tidak ada data"},
    "availability_vs_sla": {"en": "Availability vs SLA", "id": "Ketersediaan vs SLA"},
    "eligible_hours": {"en": "Measured camera time (h:mm:ss)", "id": "Waktu kamera terukur (j:mm:dd)"},
    "down_hours": {"en": "Counted downtime (h:mm:ss)", "id": "Waktu henti dihitung (j:mm:dd)"},
    "excluded_hours": {"en": "Excluded downtime (h:mm:ss)", "id": "Waktu henti dikecualikan (j:mm:dd)"},
    "daily": {"en": "Daily availability", "id": "Ketersediaan harian"},
    "by_cause": {"en": "Downtime by cause", "id": "Waktu henti menurut penyebab"},
    "cause_camera": {"en": "Camera", "id": "Kamera"},
    "cause_link": {"en": "Link", "id": "Jaringan"},
    "cause_feed": {"en": "Feed", "id": "Siaran (feed)"},
    "cause_maintenance": {"en": "Maintenance", "id": "Pemeliharaan"},
    "cause_monitor_down": {"en": "Monitor down", "id": "Monitor tidak berjalan"},
    "hours": {"en": "hours", "id": "jam"},
    "worst": {"en": "Worst cameras", "id": "Kamera terburuk"},
    "camera": {"en": "Camera", "id": "Kamera"},
    "outages_count": {"en": "Outages", "id": "Gangguan"},
    "downtime": {"en": "Downtime", "id": "Waktu henti"},
    "milestones": {"en": "Milestones and forecast", "id": "Target bertahap dan perkiraan"},
    "milestone_by": {"en": "Due", "id": "Tenggat"},
    "milestone_cameras": {"en": "Cameras due", "id": "Kamera wajib"},
    "milestone_status": {"en": "Status", "id": "Status"},
    "status_met": {"en": "met", "id": "tercapai"},
    "status_missed": {"en": "missed", "id": "tidak tercapai"},
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
    "excluded_monitor_down": {"en": "monitor down", "id": "monitor tidak berjalan"},
    "kind_camera": {"en": "camera", "id": "kamera"},
    "kind_feed": {"en": "feed", "id": "siaran (feed)"},
    "more_outages": {"en": "{n} more outages are listed in outages.csv.",
                     "id": "{n} gangguan lainnya tercantum di outages.csv."},
    "no_outages": {"en": "No outage in this period.", "id": "Tidak ada gangguan pada periode ini."},
    "monitor_down_total": {"en": "Monitor downtime in the period", "id": "Waktu monitor tidak berjalan dalam periode"},
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
        "id": "Satu detik-kamera dihitung sebagai waktu henti hanya bila penyedia bertanggung jawab "
              "atasnya. Waktu dalam jendela pemeliharaan, waktu ketika monitor sendiri tidak berjalan, "
              "dan gangguan akibat jaringan kota ke pusat komando dikecualikan dari waktu henti maupun "
              "waktu terukur, dan dicantumkan. Periode dipotong pada tengah malam di zona waktu "
              "laporan. Jumlah di akhir periode diukur, bukan diklaim: kamera terverifikasi "
              "setelah merespons setidaknya sekali."},
    "reports": {"en": "Reports", "id": "Laporan"},
    "month": {"en": "Month", "id": "Bulan"},
    "day": {"en": "Day", "id": "Hari"},
    # what the ledger covers, the as-of instant, measured counts beside the claims
    "as_of_note": {"en": "As of {when}: the period is not over, every figure is measured up to this instant.",
              "id": "Per {when}: periode belum berakhir, setiap angka diukur sampai saat ini."},
    "measured_at": {"en": "Figures measured at", "id": "Angka diukur pada"},
    "coverage": {"en": "The ledger covers {first} to {last} of this period; no instance of the monitor "
                       "was watching for {hours} hours of it.",
                 "id": "Catatan monitor mencakup {first} sampai {last} dari periode ini; tidak ada "
                       "instans monitor yang mengamati selama {hours} jam di dalamnya."},
    "no_coverage": {"en": "The ledger holds no record within this period.",
                    "id": "Catatan monitor tidak memuat data apa pun dalam periode ini."},
    "observed_from": {"en": "Observation began", "id": "Pengamatan dimulai"},
    "status_not_observed": {"en": "not observed", "id": "tidak teramati"},
    "pace_from": {"en": "measured from {date}", "id": "diukur sejak {date}"},
    "never_verified": {"en": "Claimed, never verified", "id": "Diklaim, belum pernah terverifikasi"},
    "never_verified_note": {
        "en": "Configured cameras that never answered the monitor. Their time is not availability "
              "time; they count as installed but not verified.",
        "id": "Kamera terkonfigurasi yang belum pernah merespons monitor. Waktunya bukan waktu "
              "ketersediaan; kamera ini dihitung terpasang tetapi tidak terverifikasi."},
    "reach": {"en": "Measured connections beside the claims", "id": "Koneksi terukur di samping klaim"},
    "reach_smart_city": {"en": "Integrated with the smart-city platform",
                         "id": "Terintegrasi dengan platform smart city"},
    "reach_police": {"en": "Connected to the police", "id": "Terhubung ke kepolisian"},
    "reach_configured": {"en": "Configured (claimed)", "id": "Terkonfigurasi (klaim)"},
    "reach_measured": {"en": "With a feed the monitor checks", "id": "Dengan siaran yang diperiksa monitor"},
    "reach_at_end": {"en": "Reaching at the period's end", "id": "Tersambung di akhir periode"},
    "reach_sla": {"en": "Reaching for at least the SLA share of the observed time",
                  "id": "Tersambung minimal selama porsi SLA dari waktu yang teramati"},
    "feed_hours": {"en": "Feed downtime (h, not part of the measured time)",
                   "id": "Waktu henti siaran (jam, bukan bagian dari waktu terukur)"},
    # the rules of the method section, one sentence each
    "rule_link": {
        "en": "A camera's downtime is excluded second by second while the command-centre link it "
              "hangs off was recorded down; its seconds before and after the link's outage count.",
        "id": "Waktu henti kamera dikecualikan detik demi detik selama jaringan pusat komando tempat "
              "kamera terhubung tercatat putus; detik sebelum dan sesudah gangguan jaringan tetap dihitung."},
    "rule_feed": {
        "en": "A feed's downtime is the city's while every link of its command centre was down, "
              "counted from the first of those links seen down; it is listed, never part of the "
              "cameras' measured time.",
        "id": "Waktu henti siaran menjadi tanggungan kota selama semua jaringan pusat komandonya "
              "putus, dihitung sejak jaringan pertama terlihat putus; dicantumkan, tetapi tidak "
              "termasuk waktu terukur kamera."},
    "rule_first_answer": {
        "en": "Time before a camera's first answer is not availability time: such a camera is "
              "listed as claimed, never verified, and counts against the installation figures.",
        "id": "Waktu sebelum kamera merespons untuk pertama kali bukan waktu ketersediaan: kamera "
              "tersebut dicantumkan sebagai diklaim, belum pernah terverifikasi, dan mengurangi "
              "angka pemasangan."},
    "rule_observed": {
        "en": "The monitor did not exist before its first record: milestones due earlier are not "
              "observed, the pace is measured from that date at the earliest, and cameras claimed "
              "installed before it are not new installations when first seen.",
        "id": "Monitor belum ada sebelum catatan pertamanya: tahapan yang jatuh tempo sebelumnya "
              "tidak teramati, laju diukur paling awal sejak tanggal itu, dan kamera yang diklaim "
              "terpasang sebelumnya bukan pemasangan baru ketika pertama kali terlihat."},
    "rule_as_of": {
        "en": "Every figure is measured at one instant (the period's end, or the as-of time of a "
              "period not over), so reports in both languages from one ledger agree in every figure.",
        "id": "Setiap angka diukur pada satu saat (akhir periode, atau waktu 'per' untuk periode "
              "yang belum berakhir), sehingga laporan dalam kedua bahasa dari catatan yang sama "
              "sama di setiap angka."},
    "rule_ha": {
        "en": "Instances watching the same cameras are merged: an outage seen by two counts once, "
              "and the monitor is down only while no instance watched.",
        "id": "Instans yang mengamati kamera yang sama digabung: gangguan yang terlihat oleh dua "
              "instans dihitung sekali, dan monitor dianggap mati hanya bila tidak ada instans yang "
              "mengamati."},
}

#: The words of the report as a document (method, windows, link outages, evidence,
#: signatures, pages); kept apart from the figures' labels above.
DOCUMENT_LABELS: dict[str, dict[str, str]] = {
    "document_number": {"en": "Document number", "id": "Nomor dokumen"},
    "as_of": {"en": "As of", "id": "Per"},
    "page": {"en": "Page", "id": "Halaman"},
    "page_of": {"en": "of", "id": "dari"},
    "zone_note": {"en": "Every time in this report is in {zone}.",
                  "id": "Semua waktu dalam laporan ini dalam {zone}."},
    "method_down": {
        "en": "Down: a camera is down from the first probe that fails until the next probe that "
              "succeeds. Checks run: {checks}. Every camera is probed every {interval} s ({own} "
              "cameras with an interval of their own), each check within a {timeout} s deadline; "
              "a timeout, a refused connection or a garbled answer is retried up to {retries} "
              "time(s) within that deadline before the check fails.{stream}",
        "id": "Tidak aktif (down): kamera dihitung tidak aktif sejak probe pertama yang gagal sampai "
              "probe berikutnya yang berhasil. Pemeriksaan yang dijalankan: {checks}. Setiap kamera "
              "diperiksa tiap {interval} detik ({own} kamera dengan interval sendiri), tiap "
              "pemeriksaan dengan batas waktu {timeout} detik; waktu habis, koneksi ditolak atau "
              "jawaban rusak diulang hingga {retries} kali dalam batas waktu itu sebelum "
              "pemeriksaan dinyatakan gagal.{stream}"},
    "method_stream": {"en": " The stream check (RTP packets and a keyframe) runs every {interval} s.",
                      "id": " Pemeriksaan siaran video (paket RTP dan keyframe) berjalan tiap {interval} "
                            "detik."},
    "method_maintenance": {
        "en": "Excluded, maintenance: time inside a configured maintenance window whose scope "
              "covers the camera (the windows are listed below by name with their spans).",
        "id": "Dikecualikan, pemeliharaan: waktu di dalam jendela pemeliharaan yang mencakup "
              "kamera (jendela dicantumkan di bawah menurut nama beserta rentang waktunya)."},
    "method_link": {
        "en": "Excluded, link: downtime caused by the city's link to the command centre that "
              "the camera hangs off (its uplink) being down: the city's network, not the "
              "provider's (the link outages are listed below with their spans).",
        "id": "Dikecualikan, jaringan: waktu henti akibat jaringan kota ke pusat komando tempat "
              "kamera tersambung (uplink) putus: jaringan milik kota, bukan penyedia (gangguan "
              "jaringan dicantumkan di bawah beserta rentang waktunya)."},
    "method_monitor_down": {
        "en": "Excluded, monitor down: time when no monitor instance watching the camera was "
              "running (from its last heartbeat to its next start); the monitor's own trouble "
              "is never held against a provider.",
        "id": "Dikecualikan, monitor tidak berjalan: waktu ketika tidak ada instans monitor yang "
              "mengawasi kamera sedang berjalan (dari detak terakhir sampai mulai lagi); gangguan "
              "monitor sendiri tidak pernah dibebankan kepada penyedia."},
    "method_formula": {
        "en": "Availability = 1 - counted downtime / (camera time in the inventory - excluded "
              "time), summed over the provider's cameras. A verdict compares the availability "
              "as shown (three decimals) with the SLA: a figure shown equal to the SLA meets it.",
        "id": "Ketersediaan = 1 - waktu henti dihitung / (waktu kamera dalam inventaris - waktu "
              "dikecualikan), dijumlahkan atas kamera penyedia. Kesimpulan membandingkan "
              "ketersediaan seperti yang ditampilkan (tiga desimal) dengan SLA: angka yang "
              "tampil sama dengan SLA berarti memenuhi."},
    "windows": {"en": "Maintenance windows", "id": "Jendela pemeliharaan"},
    "window": {"en": "Window", "id": "Jendela"},
    "no_windows": {"en": "No maintenance window in this period.",
                   "id": "Tidak ada jendela pemeliharaan pada periode ini."},
    "link_outages": {"en": "Link outages (command-centre links)",
                     "id": "Gangguan jaringan ke pusat komando"},
    "no_link_outages": {"en": "No link outage in this period.",
                        "id": "Tidak ada gangguan jaringan pada periode ini."},
    "link": {"en": "Link", "id": "Jaringan"},
    "state": {"en": "State", "id": "Keadaan"},
    "state_down": {"en": "down", "id": "putus"},
    "state_degraded": {"en": "degraded", "id": "menurun"},
    "name": {"en": "Name", "id": "Nama"},
    "district": {"en": "District", "id": "Kecamatan"},
    "evidence": {"en": "Evidence", "id": "Bukti keaslian"},
    "software_version": {"en": "Software version", "id": "Versi perangkat lunak"},
    "config_digest": {"en": "Configuration digest (SHA-256)", "id": "Sidik konfigurasi (SHA-256)"},
    "ledger_digest": {"en": "Digest of the ledger rows used (SHA-256)",
                      "id": "Sidik baris ledger yang dipakai (SHA-256)"},
    "rows": {"en": "{n} rows", "id": "{n} baris"},
    "chain_heads": {"en": "Ledger hash-chain heads (instance: events, last hash)",
                    "id": "Ujung rantai hash ledger (instans: jumlah peristiwa, hash terakhir)"},
    "no_chain": {"en": "none (the ledger predates its hash chain)",
                 "id": "tidak ada (ledger lebih tua dari rantai hash-nya)"},
    "verify_hint": {
        "en": "To check this report against the ledger: cctv-monitor report --verify DIR "
              "(recomputes the digest), and cctv-monitor ledger verify (the hash chains).",
        "id": "Untuk memeriksa laporan ini terhadap ledger: cctv-monitor report --verify DIR "
              "(menghitung ulang sidik), dan cctv-monitor ledger verify (rantai hash)."},
    "signatures": {"en": "Signatures", "id": "Tanda tangan"},
    "sign_date": {"en": "Date", "id": "Tanggal"},
    "lang_en": {"en": "English", "id": "Bahasa Inggris"},
    "lang_id": {"en": "Bahasa Indonesia", "id": "Bahasa Indonesia"},
    "report_pdf": {"en": "PDF", "id": "PDF"},
    "custom_range": {"en": "Any range", "id": "Rentang bebas"},
    "date_from": {"en": "From", "id": "Dari"},
    "date_to": {"en": "To (included)", "id": "Sampai (termasuk)"},
    "all_providers": {"en": "all providers", "id": "semua penyedia"},
    "make_report": {"en": "Make the report", "id": "Buat laporan"},
}

#: Every probe reason in words, the code kept beside it: "waktu habis (timeout)".
REASONS: dict[str, dict[str, str]] = {
    "ok": {"en": "answered", "id": "merespons"},
    "timeout": {"en": "no answer in time", "id": "waktu habis"},
    "refused": {"en": "connection refused", "id": "koneksi ditolak"},
    "unreachable": {"en": "unreachable", "id": "tidak terjangkau"},
    "dns_error": {"en": "name not resolved", "id": "nama tidak ditemukan di DNS"},
    "tls_error": {"en": "TLS failure", "id": "kegagalan TLS"},
    "auth_required": {"en": "login required", "id": "perlu login"},
    "auth_failed": {"en": "login refused", "id": "login ditolak"},
    "forbidden": {"en": "access forbidden", "id": "akses dilarang"},
    "not_found": {"en": "stream or page not found", "id": "siaran atau halaman tidak ditemukan"},
    "server_error": {"en": "camera server error", "id": "kesalahan server kamera"},
    "bad_response": {"en": "garbled answer", "id": "jawaban rusak"},
    "wrong_content": {"en": "wrong content", "id": "isi tidak sesuai"},
    "no_video": {"en": "no video", "id": "tidak ada video"},
    "frozen_image": {"en": "frozen picture", "id": "gambar membeku"},
    "black_image": {"en": "black picture", "id": "gambar hitam"},
    "uniform_image": {"en": "blank picture", "id": "gambar polos"},
    "down": {"en": "link down", "id": "jaringan putus"},
    "degraded": {"en": "link degraded", "id": "jaringan menurun"},
}

LABELS.update(DOCUMENT_LABELS)

#: Disputes (monitor/history/disputes.py): the report's section and the provider portal's
#: pages and forms (monitor/web/portal.py).
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
    "newest_only": {"en": "The newest {n} are shown; the month's report (outages.csv) lists every one.",
                    "id": "Ditampilkan {n} terbaru; laporan bulanan (outages.csv) mencantumkan semuanya."},
    "method_dispute": {
        "en": "Excluded, dispute: the seconds of an outage the provider disputed and the city "
              "accepted, after the exclusions above (the disputes are listed below with their "
              "status and notes). A pending or rejected dispute changes nothing.",
        "id": "Dikecualikan, sanggahan: detik-detik gangguan yang disanggah penyedia dan "
              "diterima oleh kota, setelah pengecualian di atas (sanggahan dicantumkan di bawah "
              "beserta status dan catatannya). Sanggahan yang menunggu atau ditolak tidak "
              "mengubah apa pun."},
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
#: The method section's rule sentences, in reading order.
RULES = ("rule_link", "rule_feed", "rule_first_answer", "rule_observed", "rule_as_of", "rule_ha")

# The report names causes and exclusions by `model.Cause` (link_down, feed_missing), the
# labels keep their short keys: one entry, two names.
for _prefix in ("cause_", "excluded_"):
    LABELS[_prefix + "link_down"] = LABELS[_prefix + "link"]
LABELS["cause_feed_missing"] = LABELS["cause_feed"]

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

    def reason(self, code: str) -> str:
        """A probe reason in words with its code in parentheses; an unknown code as is."""
        words = REASONS.get(code)
        return f"{words[self.lang]} ({code})" if words else code

    def duration(self, seconds: float) -> str:
        """h:mm:ss to the second, hours grouped (1,234:05:07; 1.234:05:07 in Indonesian):
        a 60 s window reads 0:01:00, never "0.0 h"."""
        s = int(round(seconds))
        return f"{self.number(s // 3600)}:{s % 3600 // 60:02d}:{s % 60:02d}"

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
