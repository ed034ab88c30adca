"""Geography of the simulated fleet: Jakarta's five administrative cities and their kecamatan.

The 42 kecamatan (districts) of the five cities of DKI Jakarta (the Kepulauan Seribu regency
has no street cameras and is left out), each with an approximate centre and a few of its
well-known streets, so that simulated cameras sit where an operator expects them on a map.
Coordinates are rounded district centres, good to a kilometre or so: enough for a map, not a
survey.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class District:
    name: str  # kecamatan
    city: str  # kota administrasi
    lat: float
    lon: float
    streets: tuple[str, ...]
    radius: float = 0.012  # degrees (~1.3 km): how far cameras scatter around the centre

    @property
    def slug(self) -> str:
        return self.name.lower().replace(" ", "-")


def _d(name: str, city: str, lat: float, lon: float, *streets: str) -> District:
    return District(name, city, lat, lon, streets)


PUSAT, UTARA, BARAT, SELATAN, TIMUR = (
    "Jakarta Pusat",
    "Jakarta Utara",
    "Jakarta Barat",
    "Jakarta Selatan",
    "Jakarta Timur",
)

CITIES = (PUSAT, UTARA, BARAT, SELATAN, TIMUR)

DISTRICTS: tuple[District, ...] = (
    # Jakarta Pusat: the government quarter, the densest camera coverage
    _d("Gambir", PUSAT, -6.1766, 106.8194, "Jl. Medan Merdeka Barat", "Jl. Medan Merdeka Utara",
       "Jl. Ir. H. Juanda", "Jl. Veteran", "Jl. Abdul Muis"),
    _d("Sawah Besar", PUSAT, -6.1600, 106.8330, "Jl. Gunung Sahari", "Jl. Pangeran Jayakarta",
       "Jl. Samanhudi", "Jl. Mangga Besar"),
    _d("Kemayoran", PUSAT, -6.1620, 106.8550, "Jl. Benyamin Sueb", "Jl. Angkasa", "Jl. Garuda"),
    _d("Senen", PUSAT, -6.1780, 106.8450, "Jl. Kramat Raya", "Jl. Senen Raya", "Jl. Salemba Raya"),
    _d("Cempaka Putih", PUSAT, -6.1800, 106.8700, "Jl. Letjen Suprapto",
       "Jl. Cempaka Putih Raya", "Jl. Jend. Ahmad Yani"),
    _d("Menteng", PUSAT, -6.1960, 106.8330, "Jl. M.H. Thamrin", "Jl. Imam Bonjol",
       "Jl. Cikini Raya", "Jl. Teuku Umar", "Jl. H.O.S. Cokroaminoto"),
    _d("Tanah Abang", PUSAT, -6.2050, 106.8120, "Jl. Jend. Sudirman", "Jl. K.H. Mas Mansyur",
       "Jl. Jati Baru", "Jl. K.S. Tubun"),
    _d("Johar Baru", PUSAT, -6.1850, 106.8570, "Jl. Johar Baru Raya", "Jl. Percetakan Negara"),
    # Jakarta Utara: the port and the northern coast
    _d("Penjaringan", UTARA, -6.1200, 106.7800, "Jl. Pluit Raya", "Jl. Pantai Indah Kapuk",
       "Jl. Muara Karang"),
    _d("Pademangan", UTARA, -6.1320, 106.8400, "Jl. R.E. Martadinata", "Jl. Lodan Raya",
       "Jl. Pademangan Raya"),
    _d("Tanjung Priok", UTARA, -6.1200, 106.8800, "Jl. Enggano", "Jl. Yos Sudarso",
       "Jl. Sunter Jaya"),
    _d("Koja", UTARA, -6.1180, 106.9100, "Jl. Jampea", "Jl. Plumpang Semper", "Jl. Walang Baru"),
    _d("Kelapa Gading", UTARA, -6.1600, 106.9050, "Jl. Boulevard Raya", "Jl. Kelapa Nias",
       "Jl. Perintis Kemerdekaan"),
    _d("Cilincing", UTARA, -6.1200, 106.9400, "Jl. Cilincing Raya", "Jl. Cakung Cilincing",
       "Jl. Marunda Raya"),
    # Jakarta Barat
    _d("Cengkareng", BARAT, -6.1500, 106.7350, "Jl. Daan Mogot", "Jl. Lingkar Luar Barat",
       "Jl. Bojong Raya"),
    _d("Grogol Petamburan", BARAT, -6.1650, 106.7900, "Jl. Kyai Tapa", "Jl. Letjen S. Parman",
       "Jl. Tanjung Duren Raya"),
    _d("Taman Sari", BARAT, -6.1450, 106.8150, "Jl. Hayam Wuruk", "Jl. Gajah Mada",
       "Jl. Pinangsia Raya"),
    _d("Tambora", BARAT, -6.1480, 106.8000, "Jl. Jembatan Besi", "Jl. Tubagus Angke",
       "Jl. Pangeran Tubagus"),
    _d("Kebon Jeruk", BARAT, -6.1950, 106.7700, "Jl. Panjang", "Jl. Arjuna Utara",
       "Jl. Kebon Jeruk Raya"),
    _d("Kalideres", BARAT, -6.1350, 106.7050, "Jl. Peta Selatan", "Jl. Kamal Raya",
       "Jl. Semanan Raya"),
    _d("Palmerah", BARAT, -6.2000, 106.7950, "Jl. Palmerah Barat", "Jl. Kemanggisan Raya",
       "Jl. Slipi"),
    _d("Kembangan", BARAT, -6.1900, 106.7400, "Jl. Puri Kembangan", "Jl. Meruya Ilir",
       "Jl. Kembangan Raya"),
    # Jakarta Selatan
    _d("Tebet", SELATAN, -6.2300, 106.8550, "Jl. Prof. Dr. Supomo", "Jl. Tebet Raya",
       "Jl. M.T. Haryono"),
    _d("Setiabudi", SELATAN, -6.2150, 106.8300, "Jl. H.R. Rasuna Said", "Jl. Setiabudi Raya",
       "Jl. Casablanca"),
    _d("Mampang Prapatan", SELATAN, -6.2500, 106.8250, "Jl. Mampang Prapatan Raya",
       "Jl. Kapten Tendean", "Jl. Warung Buncit Raya"),
    _d("Pasar Minggu", SELATAN, -6.2850, 106.8450, "Jl. Raya Pasar Minggu", "Jl. Raya Ragunan",
       "Jl. Kalibata Raya"),
    _d("Kebayoran Lama", SELATAN, -6.2450, 106.7800, "Jl. Ciledug Raya",
       "Jl. Kebayoran Lama Raya", "Jl. Arteri Permata Hijau"),
    _d("Cilandak", SELATAN, -6.2900, 106.8000, "Jl. T.B. Simatupang", "Jl. R.A. Kartini",
       "Jl. R.S. Fatmawati"),
    _d("Kebayoran Baru", SELATAN, -6.2400, 106.8000, "Jl. Panglima Polim", "Jl. Senopati",
       "Jl. Wijaya", "Jl. Sisingamangaraja"),
    _d("Pancoran", SELATAN, -6.2500, 106.8450, "Jl. Gatot Subroto", "Jl. Pengadegan",
       "Jl. Duren Tiga Raya"),
    _d("Jagakarsa", SELATAN, -6.3350, 106.8250, "Jl. Moh. Kahfi", "Jl. Raya Lenteng Agung",
       "Jl. Srengseng Sawah"),
    _d("Pesanggrahan", SELATAN, -6.2500, 106.7550, "Jl. Veteran Bintaro", "Jl. Ulujami Raya",
       "Jl. Pesanggrahan Raya"),
    # Jakarta Timur
    _d("Matraman", TIMUR, -6.2050, 106.8600, "Jl. Matraman Raya", "Jl. Pramuka",
       "Jl. Utan Kayu Raya"),
    _d("Pulo Gadung", TIMUR, -6.1900, 106.9000, "Jl. Pemuda", "Jl. Bekasi Raya",
       "Jl. Pulo Gadung Raya"),
    _d("Jatinegara", TIMUR, -6.2300, 106.8750, "Jl. Jatinegara Barat", "Jl. D.I. Panjaitan",
       "Jl. Otista Raya"),
    _d("Kramat Jati", TIMUR, -6.2700, 106.8650, "Jl. Raya Bogor", "Jl. Dewi Sartika",
       "Jl. Condet Raya"),
    _d("Pasar Rebo", TIMUR, -6.3150, 106.8600, "Jl. Raya Bogor", "Jl. Kalisari Raya",
       "Jl. Raya Gongseng"),
    _d("Cakung", TIMUR, -6.1850, 106.9400, "Jl. Raya Bekasi", "Jl. Pulo Gebang",
       "Jl. Penggilingan Raya"),
    _d("Duren Sawit", TIMUR, -6.2350, 106.9150, "Jl. Kolonel Sugiono", "Jl. Pahlawan Revolusi",
       "Jl. Raden Inten"),
    _d("Makasar", TIMUR, -6.2700, 106.8850, "Jl. Raya Halim", "Jl. Pinang Ranti",
       "Jl. Cipinang Melayu"),
    _d("Ciracas", TIMUR, -6.3250, 106.8750, "Jl. Raya Bogor", "Jl. Kelapa Dua Wetan",
       "Jl. Ciracas Raya"),
    _d("Cipayung", TIMUR, -6.3200, 106.9000, "Jl. Raya Cipayung", "Jl. Bambu Apus Raya",
       "Jl. Setu Cipayung"),
)

DISTRICT_BY_NAME = {d.name: d for d in DISTRICTS}

#: The high-security "ring one" zone around the presidential palace, the ministries on Medan
#: Merdeka and the Thamrin-Sudirman axis: the districts it spans and their share of its cameras.
RING_ONE_CENTRE = (-6.1750, 106.8270)
RING_ONE_RADIUS = 0.010  # degrees (~1.1 km)
RING_ONE_DISTRICTS = (("Gambir", 0.5), ("Menteng", 0.3), ("Tanah Abang", 0.2))

#: Relative camera density per city: the centre is covered more densely than the suburbs.
CITY_WEIGHT = {PUSAT: 1.6, UTARA: 1.0, BARAT: 1.0, SELATAN: 1.1, TIMUR: 0.9}
