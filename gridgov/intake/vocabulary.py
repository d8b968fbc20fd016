"""Words the intake understands besides the catalogue's own ``keywords``.

* ``MACHINE_TYPES``: the event types AI-camera and IoT platforms send, mapped to catalogue
  items (a row may also name the item code itself). A type maps to one item; whether that
  item accepts the source on the day is checked against the catalogue.
* ``SYNONYMS``: colloquial words citizens use → a catalogue keyword they mean, so a request
  says 马路上有个大坑 and still meets 坑槽/pothole. Bilingual, lower case.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

MACHINE_TYPES: Final = MappingProxyType(
    {
        # AI video analytics (AI 视频分析)
        "street_vending": "SJ-JM-003",
        "stall_on_road": "SJ-JM-001",
        "shop_spill_out": "SJ-JM-002",
        "exposed_rubbish": "SJ-SR-001",
        "dumped_rubbish": "SJ-SR-002",
        "overflowing_bin": "SJ-SR-004",
        "scattered_litter": "SJ-SR-012",
        "bin_knocked_over": "BJ-SR-010",
        "open_burning": "SJ-SR-006",
        "outdoor_bbq": "SJ-SR-007",
        "bulky_waste": "SJ-SR-008",
        "crowd": "SJ-TF-008",
        "illegal_taxi": "SJ-JM-010",
        "illegal_parking": "SJ-JM-004",
        "shared_bikes": "SJ-JM-005",
        "piled_materials": "SJ-JM-008",
        "hanging_laundry": "SJ-JM-009",
        "a_frame_sign": "SJ-GG-007",
        "drone": "SJ-JM-014",
        "fire_lane_blocked": "SH-XH-003",
        "road_spillage": "SJ-SG-003",
        "construction_dust": "SJ-SG-005",
        "muck_truck": "SJ-SG-007",
        "construction_waste": "SJ-SG-008",
        "illegal_construction": "SJ-SG-001",
        "river_debris": "SH-HJ-002",
        "sewage_discharge": "SH-HJ-004",
        "work_at_height": "SH-AQ-004",
        "hot_work": "SH-AQ-006",
        # IoT sensors (物联感知)
        "smoke": "SJ-TF-005",
        "electrical_fire": "SH-XH-005",
        "water_level": "SH-HJ-009",
        "waterlogging": "SJ-TF-003",
        "slope": "SJ-TF-007",
        "gas": "SJ-TF-004",
        "manhole_cover": "SJ-TF-001",
        "lift_trapped": "SH-FA-007",
        "elderly_alarm": "SH-WL-008",
        "site_noise": "SJ-SG-002",
        "ebike_charger": "BJ-GY-011",
    }
)

SYNONYMS: Final = MappingProxyType(
    {
        # city appearance
        "乱扔垃圾": "垃圾",
        "垃圾成堆": "垃圾堆",
        "没人收垃圾": "垃圾没人清",
        "rubbish": "garbage",
        "trash": "garbage",
        "litter": "garbage",
        "垃圾桶爆满": "垃圾满了",
        "bin is full": "overflowing bin",
        # roads
        "大坑": "坑槽",
        "路面破了": "坑洼",
        "hole in the road": "pothole",
        "红灯不亮": "红绿灯坏了",
        "traffic lights": "traffic light",
        "路灯黑了": "路灯不亮",
        "no street light": "street light",
        # street order
        "摆地摊": "摆摊",
        "小摊贩": "小贩",
        "hawker": "street hawker",
        "乱停乱放": "乱停车",
        "parked on the pavement": "illegal parking",
        "黑摩的": "摩的",
        # nuisance
        "吵死了": "噪音",
        "太吵": "噪音",
        "noise": "residential noise",
        "半夜施工": "施工噪音",
        "油烟很大": "油烟",
        # safety
        "煤气泄漏": "燃气泄漏",
        "闻到煤气": "煤气味",
        "smells of gas": "gas leak",
        "电梯关人": "电梯困人",
        "stuck in the lift": "trapped in lift",
        "消防车进不来": "消防通道",
        # housing and neighbours
        "漏水到楼下": "楼上漏水",
        "楼上漏水下来": "楼上漏水",
        "房东不退押金": "押金不退",
        "landlord": "tenancy dispute",
        # wages
        "老板不发工资": "拖欠工资",
        "不给工资": "拖欠工资",
        "unpaid wages": "wage arrears",
    }
)
