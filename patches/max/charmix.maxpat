{
	"patcher": {
		"fileversion": 1,
		"appversion": {
			"major": 8,
			"minor": 5,
			"revision": 5,
			"architecture": "x64",
			"modernui": 1
		},
		"classnamespace": "box",
		"rect": [
			40.0,
			80.0,
			1240.0,
			900.0
		],
		"bglocked": 0,
		"openinpresentation": 0,
		"default_fontsize": 12.0,
		"default_fontface": 0,
		"default_fontname": "Arial",
		"gridonopen": 1,
		"gridsize": [
			15.0,
			15.0
		],
		"gridsnaponopen": 1,
		"objectsnaponopen": 1,
		"statusbarvisible": 2,
		"toolbarvisible": 1,
		"lefttoolbarpinned": 0,
		"toptoolbarpinned": 0,
		"righttoolbarpinned": 0,
		"bottomtoolbarpinned": 0,
		"toolbars_unpinned_last_save": 0,
		"tallnewobj": 0,
		"boxanimatetime": 200,
		"enablehscroll": 1,
		"enablevscroll": 1,
		"devicewidth": 0.0,
		"description": "charmix: the daemon's broadcast drawn live, and a control section",
		"digest": "",
		"tags": "charmix osc",
		"style": "",
		"subpatcher_template": "",
		"assistshowspatchername": 0,
		"boxes": [
			{
				"box": {
					"id": "obj-1",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						10.0,
						1180.0,
						40.0
					],
					"text": "charmix \u2014 the daemon's broadcast (UDP 7771) drawn live, and a control section that talks back (UDP 7770). Start charmix daemon, then open this patch. With the daemon sending elsewhere (--send), switch subscribe on.",
					"linecount": 2
				}
			},
			{
				"box": {
					"id": "obj-2",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						60.0,
						117.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "udpreceive 7771"
				}
			},
			{
				"box": {
					"id": "obj-3",
					"maxclass": "newobj",
					"numinlets": 11,
					"numoutlets": 11,
					"patching_rect": [
						15.0,
						275.0,
						1160.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						"",
						"",
						"",
						"",
						"",
						"",
						"",
						"",
						""
					],
					"text": "route /charmix/char /charmix/index /charmix/step /charmix/text /charmix/dist /charmix/weights /charmix/attribution /charmix/entropy /charmix/models /charmix/status"
				}
			},
			{
				"box": {
					"id": "obj-4",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						315.0,
						89.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-5",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						131.0,
						315.0,
						117.0,
						22.0
					],
					"text": "s charmix-index"
				}
			},
			{
				"box": {
					"id": "obj-6",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						247.0,
						315.0,
						110.0,
						22.0
					],
					"text": "s charmix-step"
				}
			},
			{
				"box": {
					"id": "obj-7",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						363.0,
						315.0,
						89.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-8",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						479.0,
						315.0,
						47.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "t l l"
				}
			},
			{
				"box": {
					"id": "obj-9",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						519.0,
						345.0,
						54.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "zl.len"
				}
			},
			{
				"box": {
					"id": "obj-10",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						519.0,
						375.0,
						96.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend size"
				}
			},
			{
				"box": {
					"id": "obj-11",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						595.0,
						315.0,
						47.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "t l l"
				}
			},
			{
				"box": {
					"id": "obj-12",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						635.0,
						345.0,
						54.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "zl.len"
				}
			},
			{
				"box": {
					"id": "obj-13",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						635.0,
						375.0,
						131.0,
						22.0
					],
					"text": "s charmix-nmodels"
				}
			},
			{
				"box": {
					"id": "obj-14",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						635.0,
						405.0,
						96.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend size"
				}
			},
			{
				"box": {
					"id": "obj-15",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						711.0,
						315.0,
						47.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "t l l"
				}
			},
			{
				"box": {
					"id": "obj-16",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						751.0,
						345.0,
						82.0,
						22.0
					],
					"outlettype": [
						"float",
						"int"
					],
					"text": "maximum 0."
				}
			},
			{
				"box": {
					"id": "obj-17",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						751.0,
						375.0,
						75.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "zl.lookup"
				}
			},
			{
				"box": {
					"id": "obj-18",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						751.0,
						405.0,
						89.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-19",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 3,
					"patching_rect": [
						943.0,
						315.0,
						61.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						""
					],
					"text": "t l l l"
				}
			},
			{
				"box": {
					"id": "obj-20",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						963.0,
						435.0,
						54.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "zl.reg"
				}
			},
			{
				"box": {
					"id": "obj-21",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 6,
					"patching_rect": [
						943.0,
						345.0,
						138.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						"",
						"",
						"",
						""
					],
					"text": "unpack s s s s s s"
				}
			},
			{
				"box": {
					"id": "obj-22",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 22,
					"patching_rect": [
						1059.0,
						315.0,
						200.0,
						22.0
					],
					"outlettype": [
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float",
						"float"
					],
					"text": "unpack f f f f f f f f f f f f f f f f f f f f f f"
				}
			},
			{
				"box": {
					"id": "obj-23",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 3,
					"patching_rect": [
						1175.0,
						315.0,
						61.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						"bang"
					],
					"text": "t l l b"
				}
			},
			{
				"box": {
					"id": "obj-24",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1255.0,
						345.0,
						40.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "0"
				}
			},
			{
				"box": {
					"id": "obj-25",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						1215.0,
						375.0,
						82.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "zl.slice 1"
				}
			},
			{
				"box": {
					"id": "obj-26",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 5,
					"patching_rect": [
						1215.0,
						405.0,
						200.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						"",
						"",
						""
					],
					"text": "regexp /charmix/model/(.+)/dist"
				}
			},
			{
				"box": {
					"id": "obj-27",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						1215.0,
						435.0,
						47.0,
						22.0
					],
					"outlettype": [
						"bang",
						""
					],
					"text": "t b l"
				}
			},
			{
				"box": {
					"id": "obj-28",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						1135.0,
						465.0,
						54.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "zl.sub"
				}
			},
			{
				"box": {
					"id": "obj-29",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						1175.0,
						645.0,
						82.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "zl.slice 1"
				}
			},
			{
				"box": {
					"id": "obj-30",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 6,
					"patching_rect": [
						1135.0,
						675.0,
						120.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						"",
						"",
						"",
						""
					],
					"text": "gate 6"
				}
			},
			{
				"box": {
					"id": "obj-31",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						510.0,
						40.0,
						20.0
					],
					"text": "line"
				}
			},
			{
				"box": {
					"id": "obj-32",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						60.0,
						510.0,
						900.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": ""
				}
			},
			{
				"box": {
					"id": "obj-33",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						542.0,
						40.0,
						20.0
					],
					"text": "char"
				}
			},
			{
				"box": {
					"id": "obj-34",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						60.0,
						542.0,
						40.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": ""
				}
			},
			{
				"box": {
					"id": "obj-35",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						115.0,
						542.0,
						40.0,
						20.0
					],
					"text": "step"
				}
			},
			{
				"box": {
					"id": "obj-36",
					"maxclass": "number",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						155.0,
						542.0,
						70.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-37",
					"maxclass": "newobj",
					"numinlets": 0,
					"numoutlets": 1,
					"patching_rect": [
						155.0,
						572.0,
						110.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "r charmix-step"
				}
			},
			{
				"box": {
					"id": "obj-38",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						245.0,
						542.0,
						82.0,
						20.0
					],
					"text": "written by"
				}
			},
			{
				"box": {
					"id": "obj-39",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						320.0,
						542.0,
						130.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": ""
				}
			},
			{
				"box": {
					"id": "obj-40",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						15.0,
						605.0,
						520.0,
						20.0
					],
					"text": "p_mix: the mixed distribution, one bar per character of /charmix/vocab"
				}
			},
			{
				"box": {
					"id": "obj-41",
					"maxclass": "multislider",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						15.0,
						625.0,
						560.0,
						110.0
					],
					"outlettype": [
						"",
						""
					],
					"parameter_enable": 0,
					"setminmax": [
						0.0,
						1.0
					],
					"setstyle": 1,
					"settype": 1,
					"size": 102,
					"contdata": 1,
					"slidercolor": [
						0.2,
						0.2,
						0.2,
						1.0
					]
				}
			},
			{
				"box": {
					"id": "obj-42",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						773.0,
						405.0,
						80.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-43",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						858.0,
						405.0,
						80.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-44",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						943.0,
						405.0,
						80.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-45",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1028.0,
						405.0,
						80.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-46",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1113.0,
						405.0,
						80.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-47",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1198.0,
						405.0,
						80.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend set"
				}
			},
			{
				"box": {
					"id": "obj-48",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						755.0,
						110.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "model 1"
				}
			},
			{
				"box": {
					"id": "obj-49",
					"maxclass": "multislider",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						135.0,
						755.0,
						440.0,
						56.0
					],
					"outlettype": [
						"",
						""
					],
					"parameter_enable": 0,
					"setminmax": [
						0.0,
						1.0
					],
					"setstyle": 1,
					"settype": 1,
					"size": 102,
					"contdata": 1,
					"slidercolor": [
						0.937,
						0.435,
						0.612,
						1.0
					]
				}
			},
			{
				"box": {
					"id": "obj-50",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						817.0,
						110.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "model 2"
				}
			},
			{
				"box": {
					"id": "obj-51",
					"maxclass": "multislider",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						135.0,
						817.0,
						440.0,
						56.0
					],
					"outlettype": [
						"",
						""
					],
					"parameter_enable": 0,
					"setminmax": [
						0.0,
						1.0
					],
					"setstyle": 1,
					"settype": 1,
					"size": 102,
					"contdata": 1,
					"slidercolor": [
						0.31,
						0.765,
						0.969,
						1.0
					]
				}
			},
			{
				"box": {
					"id": "obj-52",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						879.0,
						110.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "model 3"
				}
			},
			{
				"box": {
					"id": "obj-53",
					"maxclass": "multislider",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						135.0,
						879.0,
						440.0,
						56.0
					],
					"outlettype": [
						"",
						""
					],
					"parameter_enable": 0,
					"setminmax": [
						0.0,
						1.0
					],
					"setstyle": 1,
					"settype": 1,
					"size": 102,
					"contdata": 1,
					"slidercolor": [
						1.0,
						0.541,
						0.239,
						1.0
					]
				}
			},
			{
				"box": {
					"id": "obj-54",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						941.0,
						110.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "model 4"
				}
			},
			{
				"box": {
					"id": "obj-55",
					"maxclass": "multislider",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						135.0,
						941.0,
						440.0,
						56.0
					],
					"outlettype": [
						"",
						""
					],
					"parameter_enable": 0,
					"setminmax": [
						0.0,
						1.0
					],
					"setstyle": 1,
					"settype": 1,
					"size": 102,
					"contdata": 1,
					"slidercolor": [
						0.482,
						0.851,
						0.42,
						1.0
					]
				}
			},
			{
				"box": {
					"id": "obj-56",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						1003.0,
						110.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "model 5"
				}
			},
			{
				"box": {
					"id": "obj-57",
					"maxclass": "multislider",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						135.0,
						1003.0,
						440.0,
						56.0
					],
					"outlettype": [
						"",
						""
					],
					"parameter_enable": 0,
					"setminmax": [
						0.0,
						1.0
					],
					"setstyle": 1,
					"settype": 1,
					"size": 102,
					"contdata": 1,
					"slidercolor": [
						0.663,
						0.545,
						0.961,
						1.0
					]
				}
			},
			{
				"box": {
					"id": "obj-58",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						15.0,
						1065.0,
						110.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "model 6"
				}
			},
			{
				"box": {
					"id": "obj-59",
					"maxclass": "multislider",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						135.0,
						1065.0,
						440.0,
						56.0
					],
					"outlettype": [
						"",
						""
					],
					"parameter_enable": 0,
					"setminmax": [
						0.0,
						1.0
					],
					"setstyle": 1,
					"settype": 1,
					"size": 102,
					"contdata": 1,
					"slidercolor": [
						0.949,
						0.757,
						0.306,
						1.0
					]
				}
			},
			{
				"box": {
					"id": "obj-60",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						610.0,
						605.0,
						145.0,
						20.0
					],
					"text": "weights (effective; < 0: anti)"
				}
			},
			{
				"box": {
					"id": "obj-61",
					"maxclass": "multislider",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						610.0,
						625.0,
						180.0,
						90.0
					],
					"outlettype": [
						"",
						""
					],
					"parameter_enable": 0,
					"setminmax": [
						-1.0,
						1.0
					],
					"signed": 1,
					"setstyle": 1,
					"settype": 1,
					"size": 3,
					"contdata": 1,
					"slidercolor": [
						0.3,
						0.3,
						0.3,
						1.0
					]
				}
			},
			{
				"box": {
					"id": "obj-62",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						610.0,
						725.0,
						300.0,
						20.0
					],
					"text": "attribution: who wrote the last character"
				}
			},
			{
				"box": {
					"id": "obj-63",
					"maxclass": "multislider",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						610.0,
						745.0,
						180.0,
						90.0
					],
					"outlettype": [
						"",
						""
					],
					"parameter_enable": 0,
					"setminmax": [
						-1.0,
						1.0
					],
					"signed": 1,
					"setstyle": 1,
					"settype": 1,
					"size": 3,
					"contdata": 1,
					"slidercolor": [
						0.3,
						0.3,
						0.3,
						1.0
					]
				}
			},
			{
				"box": {
					"id": "obj-64",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						610.0,
						845.0,
						250.0,
						20.0
					],
					"text": "entropy of each p_i (0 \u2013 7 bits)"
				}
			},
			{
				"box": {
					"id": "obj-65",
					"maxclass": "multislider",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						610.0,
						865.0,
						180.0,
						90.0
					],
					"outlettype": [
						"",
						""
					],
					"parameter_enable": 0,
					"setminmax": [
						0.0,
						7.0
					],
					"setstyle": 1,
					"settype": 1,
					"size": 3,
					"contdata": 1,
					"slidercolor": [
						0.3,
						0.3,
						0.3,
						1.0
					]
				}
			},
			{
				"box": {
					"id": "obj-66",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						830.0,
						605.0,
						220.0,
						20.0
					],
					"text": "daemon status (/charmix/status)"
				}
			},
			{
				"box": {
					"id": "obj-67",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						625.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_step",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-68",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						625.0,
						120.0,
						20.0
					],
					"text": "step"
				}
			},
			{
				"box": {
					"id": "obj-69",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						649.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_chars_per_s",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-70",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						649.0,
						120.0,
						20.0
					],
					"text": "chars_per_s"
				}
			},
			{
				"box": {
					"id": "obj-71",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						673.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_rate",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-72",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						673.0,
						120.0,
						20.0
					],
					"text": "rate"
				}
			},
			{
				"box": {
					"id": "obj-73",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						697.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_paused",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-74",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						697.0,
						120.0,
						20.0
					],
					"text": "paused"
				}
			},
			{
				"box": {
					"id": "obj-75",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						721.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_temperature",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-76",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						721.0,
						120.0,
						20.0
					],
					"text": "temperature"
				}
			},
			{
				"box": {
					"id": "obj-77",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						745.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_mode",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-78",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						745.0,
						120.0,
						20.0
					],
					"text": "mode"
				}
			},
			{
				"box": {
					"id": "obj-79",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						769.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_topk",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-80",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						769.0,
						120.0,
						20.0
					],
					"text": "topk"
				}
			},
			{
				"box": {
					"id": "obj-81",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						793.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_topp",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-82",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						793.0,
						120.0,
						20.0
					],
					"text": "topp"
				}
			},
			{
				"box": {
					"id": "obj-83",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						817.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_rx_ok",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-84",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						817.0,
						120.0,
						20.0
					],
					"text": "rx_ok"
				}
			},
			{
				"box": {
					"id": "obj-85",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						841.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_rx_bad",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-86",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						841.0,
						120.0,
						20.0
					],
					"text": "rx_bad"
				}
			},
			{
				"box": {
					"id": "obj-87",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						865.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_rx_denied",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-88",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						865.0,
						120.0,
						20.0
					],
					"text": "rx_denied"
				}
			},
			{
				"box": {
					"id": "obj-89",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						889.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_tx_datagrams",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-90",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						889.0,
						120.0,
						20.0
					],
					"text": "tx_datagrams"
				}
			},
			{
				"box": {
					"id": "obj-91",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						913.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_tx_errors",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-92",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						913.0,
						120.0,
						20.0
					],
					"text": "tx_errors"
				}
			},
			{
				"box": {
					"id": "obj-93",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						937.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_overruns",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-94",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						937.0,
						120.0,
						20.0
					],
					"text": "overruns"
				}
			},
			{
				"box": {
					"id": "obj-95",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						961.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_subscribers",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-96",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						961.0,
						120.0,
						20.0
					],
					"text": "subscribers"
				}
			},
			{
				"box": {
					"id": "obj-97",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						985.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_uptime",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-98",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						985.0,
						84.0,
						20.0
					],
					"text": "uptime"
				}
			},
			{
				"box": {
					"id": "obj-99",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1000.0,
						480.0,
						200.0,
						20.0
					],
					"text": "control \u2192 daemon (UDP 7770)"
				}
			},
			{
				"box": {
					"id": "obj-100",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1000.0,
						1085.0,
						160.0,
						22.0
					],
					"text": "udpsend 127.0.0.1 7770"
				}
			},
			{
				"box": {
					"id": "obj-101",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1000.0,
						605.0,
						220.0,
						20.0
					],
					"text": "target weights (first N models)"
				}
			},
			{
				"box": {
					"id": "obj-102",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1000.0,
						625.0,
						22.0,
						110.0
					],
					"outlettype": [
						""
					],
					"parameter_enable": 0,
					"floatoutput": 1,
					"size": 1.0
				}
			},
			{
				"box": {
					"id": "obj-103",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1032.0,
						625.0,
						22.0,
						110.0
					],
					"outlettype": [
						""
					],
					"parameter_enable": 0,
					"floatoutput": 1,
					"size": 1.0
				}
			},
			{
				"box": {
					"id": "obj-104",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1064.0,
						625.0,
						22.0,
						110.0
					],
					"outlettype": [
						""
					],
					"parameter_enable": 0,
					"floatoutput": 1,
					"size": 1.0
				}
			},
			{
				"box": {
					"id": "obj-105",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1096.0,
						625.0,
						22.0,
						110.0
					],
					"outlettype": [
						""
					],
					"parameter_enable": 0,
					"floatoutput": 1,
					"size": 1.0
				}
			},
			{
				"box": {
					"id": "obj-106",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1128.0,
						625.0,
						22.0,
						110.0
					],
					"outlettype": [
						""
					],
					"parameter_enable": 0,
					"floatoutput": 1,
					"size": 1.0
				}
			},
			{
				"box": {
					"id": "obj-107",
					"maxclass": "slider",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1160.0,
						625.0,
						22.0,
						110.0
					],
					"outlettype": [
						""
					],
					"parameter_enable": 0,
					"floatoutput": 1,
					"size": 1.0
				}
			},
			{
				"box": {
					"id": "obj-108",
					"maxclass": "newobj",
					"numinlets": 6,
					"numoutlets": 1,
					"patching_rect": [
						1000.0,
						745.0,
						190.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "pak 1. 1. 1. 1. 1. 1."
				}
			},
			{
				"box": {
					"id": "obj-109",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1000.0,
						775.0,
						54.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "gate 1"
				}
			},
			{
				"box": {
					"id": "obj-110",
					"maxclass": "newobj",
					"numinlets": 0,
					"numoutlets": 1,
					"patching_rect": [
						1070.0,
						775.0,
						131.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "r charmix-nmodels"
				}
			},
			{
				"box": {
					"id": "obj-111",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						1070.0,
						805.0,
						47.0,
						22.0
					],
					"outlettype": [
						"int",
						"int"
					],
					"text": "t i i"
				}
			},
			{
				"box": {
					"id": "obj-112",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1150.0,
						835.0,
						40.0,
						22.0
					],
					"outlettype": [
						"int"
					],
					"text": "> 0"
				}
			},
			{
				"box": {
					"id": "obj-113",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						1000.0,
						805.0,
						82.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "zl.slice 3"
				}
			},
			{
				"box": {
					"id": "obj-114",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1000.0,
						835.0,
						150.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend /charmix/weights"
				}
			},
			{
				"box": {
					"id": "obj-115",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1000.0,
						855.0,
						89.0,
						20.0
					],
					"text": "temperature"
				}
			},
			{
				"box": {
					"id": "obj-116",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						1090.0,
						855.0,
						60.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"minimum": 0.05,
					"maximum": 5.0,
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-117",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1160.0,
						855.0,
						170.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend /charmix/temperature"
				}
			},
			{
				"box": {
					"id": "obj-118",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1000.0,
						885.0,
						40.0,
						20.0
					],
					"text": "rate"
				}
			},
			{
				"box": {
					"id": "obj-119",
					"maxclass": "number",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						1090.0,
						885.0,
						60.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"minimum": 0,
					"maximum": 2000
				}
			},
			{
				"box": {
					"id": "obj-120",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1160.0,
						885.0,
						140.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend /charmix/rate"
				}
			},
			{
				"box": {
					"id": "obj-121",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1000.0,
						920.0,
						145.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/charmix/mode linear"
				}
			},
			{
				"box": {
					"id": "obj-122",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1150.0,
						920.0,
						145.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/charmix/mode geometric"
				}
			},
			{
				"box": {
					"id": "obj-950",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1300.0,
						920.0,
						200.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/charmix/scene/recall morning 10"
				}
			},
			{
				"box": {
					"id": "obj-951",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1300.0,
						945.0,
						220.0,
						34.0
					],
					"text": "recall a saved scene: name, morph seconds (edit, then click)"
				}
			},
			{
				"box": {
					"id": "obj-123",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1000.0,
						950.0,
						85.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/charmix/pause"
				}
			},
			{
				"box": {
					"id": "obj-124",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1090.0,
						950.0,
						85.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/charmix/resume"
				}
			},
			{
				"box": {
					"id": "obj-125",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1000.0,
						980.0,
						85.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/charmix/tick"
				}
			},
			{
				"box": {
					"id": "obj-126",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1090.0,
						980.0,
						85.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/charmix/reset"
				}
			},
			{
				"box": {
					"id": "obj-127",
					"maxclass": "toggle",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1000.0,
						1020.0,
						22.0,
						22.0
					],
					"outlettype": [
						"int"
					],
					"parameter_enable": 0
				}
			},
			{
				"box": {
					"id": "obj-128",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						1025.0,
						1020.0,
						260.0,
						20.0
					],
					"text": "subscribe (on by default; renewed every 10 s)"
				}
			},
			{
				"box": {
					"id": "obj-129",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						1000.0,
						1050.0,
						47.0,
						22.0
					],
					"outlettype": [
						"int",
						"int"
					],
					"text": "t i i"
				}
			},
			{
				"box": {
					"id": "obj-130",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1200.0,
						1050.0,
						89.0,
						22.0
					],
					"outlettype": [
						"bang"
					],
					"text": "metro 10000"
				}
			},
			{
				"box": {
					"id": "obj-131",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						1060.0,
						1050.0,
						47.0,
						22.0
					],
					"outlettype": [
						"bang",
						""
					],
					"text": "sel 0"
				}
			},
			{
				"box": {
					"id": "obj-132",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1200.0,
						1115.0,
						170.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/charmix/subscribe 7771"
				}
			},
			{
				"box": {
					"id": "obj-133",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1010.0,
						1115.0,
						180.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/charmix/unsubscribe 7771"
				}
			},
			{
				"box": {
					"id": "obj-134",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						1200.0,
						505.0,
						68.0,
						22.0
					],
					"outlettype": [
						"bang"
					],
					"text": "loadbang"
				}
			},
			{
				"box": {
					"id": "obj-135",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1200.0,
						535.0,
						75.0,
						22.0
					],
					"outlettype": [
						"bang"
					],
					"text": "delay 100"
				}
			},
			{
				"box": {
					"id": "obj-136",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1200.0,
						565.0,
						140.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "/charmix/query 7771"
				}
			},
			{
				"box": {
					"id": "obj-137",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						1120.0,
						990.0,
						40.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "1"
				}
			},
			{
				"box": {
					"id": "obj-200",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						1009.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_ticks_dropped",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-201",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						1009.0,
						84.0,
						20.0
					],
					"text": "ticks_dropped"
				}
			},
			{
				"box": {
					"id": "obj-900",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						1057.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_ws_dropped",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-901",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						1057.0,
						84.0,
						20.0
					],
					"text": "ws_dropped"
				}
			},
			{
				"box": {
					"id": "obj-202",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						1033.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_step_errors",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-203",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						1033.0,
						84.0,
						20.0
					],
					"text": "step_errors"
				}
			},
			{
				"box": {
					"id": "obj-902",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						1081.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_masked_mass",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-903",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						1081.0,
						84.0,
						20.0
					],
					"text": "masked_mass"
				}
			},
			{
				"box": {
					"id": "obj-904",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						1105.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_words_blocked",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-905",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						1105.0,
						84.0,
						20.0
					],
					"text": "words_blocked"
				}
			},
			{
				"box": {
					"id": "obj-906",
					"maxclass": "flonum",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						830.0,
						1129.0,
						80.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"varname": "status_mask_fallbacks",
					"format": 6
				}
			},
			{
				"box": {
					"id": "obj-907",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						915.0,
						1129.0,
						84.0,
						20.0
					],
					"text": "mask_fallbacks"
				}
			},
			{
				"box": {
					"id": "obj-300",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						15.0,
						95.0,
						82.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "zl.slice 1"
				}
			},
			{
				"box": {
					"id": "obj-301",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 5,
					"patching_rect": [
						15.0,
						125.0,
						250.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						"",
						"",
						""
					],
					"text": "regexp ^/charmix/voice/([0-9]+)(/.+)"
				}
			},
			{
				"box": {
					"id": "obj-302",
					"maxclass": "newobj",
					"numinlets": 4,
					"numoutlets": 4,
					"patching_rect": [
						15.0,
						155.0,
						330.0,
						22.0
					],
					"outlettype": [
						"",
						"",
						"",
						""
					],
					"text": "routepass /charmix/models /charmix/vocab /charmix/status"
				}
			},
			{
				"box": {
					"id": "obj-303",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						300.0,
						185.0,
						54.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "gate 1"
				}
			},
			{
				"box": {
					"id": "obj-304",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						420.0,
						155.0,
						54.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "route 0"
				}
			},
			{
				"box": {
					"id": "obj-305",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						420.0,
						185.0,
						96.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "prepend symbol"
				}
			},
			{
				"box": {
					"id": "obj-306",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 2,
					"patching_rect": [
						15.0,
						245.0,
						54.0,
						22.0
					],
					"outlettype": [
						"",
						""
					],
					"text": "zl.join"
				}
			},
			{
				"box": {
					"id": "obj-307",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 1,
					"patching_rect": [
						420.0,
						215.0,
						160.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "sprintf symout /charmix%s"
				}
			},
			{
				"box": {
					"id": "obj-310",
					"maxclass": "number",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						700.0,
						95.0,
						50.0,
						22.0
					],
					"outlettype": [
						"",
						"bang"
					],
					"parameter_enable": 0,
					"minimum": 0,
					"maximum": 63,
					"varname": "voice"
				}
			},
			{
				"box": {
					"id": "obj-311",
					"maxclass": "newobj",
					"numinlets": 1,
					"numoutlets": 2,
					"patching_rect": [
						700.0,
						125.0,
						47.0,
						22.0
					],
					"outlettype": [
						"int",
						"int"
					],
					"text": "t i i"
				}
			},
			{
				"box": {
					"id": "obj-312",
					"maxclass": "newobj",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						700.0,
						185.0,
						40.0,
						22.0
					],
					"outlettype": [
						"int"
					],
					"text": "== 0"
				}
			},
			{
				"box": {
					"id": "obj-313",
					"maxclass": "comment",
					"numinlets": 1,
					"numoutlets": 0,
					"patching_rect": [
						755.0,
						95.0,
						440.0,
						47.0
					],
					"linecount": 3,
					"text": "voice: with charmix daemon --voices K, which voice's frames reach the displays (voice k > 0 arrives under /charmix/voice/k/...; models, vocab and status are shared by every voice)"
				}
			},
			{
				"box": {
					"id": "obj-314",
					"maxclass": "message",
					"numinlets": 2,
					"numoutlets": 1,
					"patching_rect": [
						620.0,
						95.0,
						40.0,
						22.0
					],
					"outlettype": [
						""
					],
					"text": "0"
				}
			}
		],
		"lines": [
			{
				"patchline": {
					"destination": [
						"obj-100",
						0
					],
					"source": [
						"obj-950",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-4",
						0
					],
					"source": [
						"obj-3",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-5",
						0
					],
					"source": [
						"obj-3",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-6",
						0
					],
					"source": [
						"obj-3",
						2
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-7",
						0
					],
					"source": [
						"obj-3",
						3
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-8",
						0
					],
					"source": [
						"obj-3",
						4
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-9",
						0
					],
					"source": [
						"obj-8",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-10",
						0
					],
					"source": [
						"obj-9",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-11",
						0
					],
					"source": [
						"obj-3",
						5
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-12",
						0
					],
					"source": [
						"obj-11",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-13",
						0
					],
					"source": [
						"obj-12",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-14",
						0
					],
					"source": [
						"obj-12",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-15",
						0
					],
					"source": [
						"obj-3",
						6
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-16",
						0
					],
					"source": [
						"obj-15",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-17",
						0
					],
					"source": [
						"obj-16",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-18",
						0
					],
					"source": [
						"obj-17",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-19",
						0
					],
					"source": [
						"obj-3",
						8
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-17",
						1
					],
					"source": [
						"obj-19",
						2
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-20",
						1
					],
					"source": [
						"obj-19",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-21",
						0
					],
					"source": [
						"obj-19",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-22",
						0
					],
					"source": [
						"obj-3",
						9
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-23",
						0
					],
					"source": [
						"obj-3",
						10
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-24",
						0
					],
					"source": [
						"obj-23",
						2
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-30",
						0
					],
					"source": [
						"obj-24",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-25",
						0
					],
					"source": [
						"obj-23",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-26",
						0
					],
					"source": [
						"obj-25",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-27",
						0
					],
					"source": [
						"obj-26",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-28",
						1
					],
					"source": [
						"obj-27",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-20",
						0
					],
					"source": [
						"obj-27",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-28",
						0
					],
					"source": [
						"obj-20",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-30",
						0
					],
					"source": [
						"obj-28",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-29",
						0
					],
					"source": [
						"obj-23",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-30",
						1
					],
					"source": [
						"obj-29",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-32",
						0
					],
					"source": [
						"obj-7",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-34",
						0
					],
					"source": [
						"obj-4",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-36",
						0
					],
					"source": [
						"obj-37",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-39",
						0
					],
					"source": [
						"obj-18",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-41",
						0
					],
					"source": [
						"obj-8",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-41",
						0
					],
					"source": [
						"obj-10",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-42",
						0
					],
					"source": [
						"obj-21",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-43",
						0
					],
					"source": [
						"obj-21",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-44",
						0
					],
					"source": [
						"obj-21",
						2
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-45",
						0
					],
					"source": [
						"obj-21",
						3
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-46",
						0
					],
					"source": [
						"obj-21",
						4
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-47",
						0
					],
					"source": [
						"obj-21",
						5
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-48",
						0
					],
					"source": [
						"obj-42",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-49",
						0
					],
					"source": [
						"obj-30",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-49",
						0
					],
					"source": [
						"obj-10",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-50",
						0
					],
					"source": [
						"obj-43",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-51",
						0
					],
					"source": [
						"obj-30",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-51",
						0
					],
					"source": [
						"obj-10",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-52",
						0
					],
					"source": [
						"obj-44",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-53",
						0
					],
					"source": [
						"obj-30",
						2
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-53",
						0
					],
					"source": [
						"obj-10",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-54",
						0
					],
					"source": [
						"obj-45",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-55",
						0
					],
					"source": [
						"obj-30",
						3
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-55",
						0
					],
					"source": [
						"obj-10",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-56",
						0
					],
					"source": [
						"obj-46",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-57",
						0
					],
					"source": [
						"obj-30",
						4
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-57",
						0
					],
					"source": [
						"obj-10",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-58",
						0
					],
					"source": [
						"obj-47",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-59",
						0
					],
					"source": [
						"obj-30",
						5
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-59",
						0
					],
					"source": [
						"obj-10",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-61",
						0
					],
					"source": [
						"obj-11",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-61",
						0
					],
					"source": [
						"obj-14",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-63",
						0
					],
					"source": [
						"obj-15",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-63",
						0
					],
					"source": [
						"obj-14",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-65",
						0
					],
					"source": [
						"obj-3",
						7
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-65",
						0
					],
					"source": [
						"obj-14",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-67",
						0
					],
					"source": [
						"obj-22",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-69",
						0
					],
					"source": [
						"obj-22",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-71",
						0
					],
					"source": [
						"obj-22",
						2
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-73",
						0
					],
					"source": [
						"obj-22",
						3
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-75",
						0
					],
					"source": [
						"obj-22",
						4
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-77",
						0
					],
					"source": [
						"obj-22",
						5
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-79",
						0
					],
					"source": [
						"obj-22",
						6
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-81",
						0
					],
					"source": [
						"obj-22",
						7
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-83",
						0
					],
					"source": [
						"obj-22",
						8
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-85",
						0
					],
					"source": [
						"obj-22",
						9
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-87",
						0
					],
					"source": [
						"obj-22",
						10
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-89",
						0
					],
					"source": [
						"obj-22",
						11
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-91",
						0
					],
					"source": [
						"obj-22",
						12
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-93",
						0
					],
					"source": [
						"obj-22",
						13
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-95",
						0
					],
					"source": [
						"obj-22",
						14
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-97",
						0
					],
					"source": [
						"obj-22",
						15
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-108",
						0
					],
					"source": [
						"obj-102",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-108",
						1
					],
					"source": [
						"obj-103",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-108",
						2
					],
					"source": [
						"obj-104",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-108",
						3
					],
					"source": [
						"obj-105",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-108",
						4
					],
					"source": [
						"obj-106",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-108",
						5
					],
					"source": [
						"obj-107",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-109",
						1
					],
					"source": [
						"obj-108",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-113",
						0
					],
					"source": [
						"obj-109",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-114",
						0
					],
					"source": [
						"obj-113",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-100",
						0
					],
					"source": [
						"obj-114",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-111",
						0
					],
					"source": [
						"obj-110",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-113",
						1
					],
					"source": [
						"obj-111",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-112",
						0
					],
					"source": [
						"obj-111",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-109",
						0
					],
					"source": [
						"obj-112",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-117",
						0
					],
					"source": [
						"obj-116",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-100",
						0
					],
					"source": [
						"obj-117",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-120",
						0
					],
					"source": [
						"obj-119",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-100",
						0
					],
					"source": [
						"obj-120",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-100",
						0
					],
					"source": [
						"obj-121",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-100",
						0
					],
					"source": [
						"obj-122",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-100",
						0
					],
					"source": [
						"obj-123",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-100",
						0
					],
					"source": [
						"obj-124",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-100",
						0
					],
					"source": [
						"obj-125",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-100",
						0
					],
					"source": [
						"obj-126",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-129",
						0
					],
					"source": [
						"obj-127",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-130",
						0
					],
					"source": [
						"obj-129",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-131",
						0
					],
					"source": [
						"obj-129",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-132",
						0
					],
					"source": [
						"obj-130",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-133",
						0
					],
					"source": [
						"obj-131",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-100",
						0
					],
					"source": [
						"obj-132",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-100",
						0
					],
					"source": [
						"obj-133",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-135",
						0
					],
					"source": [
						"obj-134",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-136",
						0
					],
					"source": [
						"obj-135",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-100",
						0
					],
					"source": [
						"obj-136",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-137",
						0
					],
					"source": [
						"obj-135",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-127",
						0
					],
					"source": [
						"obj-137",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-22",
						16
					],
					"destination": [
						"obj-200",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-22",
						18
					],
					"destination": [
						"obj-900",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-22",
						17
					],
					"destination": [
						"obj-202",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-22",
						19
					],
					"destination": [
						"obj-902",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-22",
						20
					],
					"destination": [
						"obj-904",
						0
					]
				}
			},
			{
				"patchline": {
					"source": [
						"obj-22",
						21
					],
					"destination": [
						"obj-906",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-300",
						0
					],
					"source": [
						"obj-2",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-306",
						1
					],
					"source": [
						"obj-300",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-301",
						0
					],
					"source": [
						"obj-300",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-302",
						0
					],
					"source": [
						"obj-301",
						3
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-306",
						0
					],
					"source": [
						"obj-302",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-306",
						0
					],
					"source": [
						"obj-302",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-306",
						0
					],
					"source": [
						"obj-302",
						2
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-303",
						1
					],
					"source": [
						"obj-302",
						3
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-306",
						0
					],
					"source": [
						"obj-303",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-304",
						0
					],
					"source": [
						"obj-301",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-305",
						0
					],
					"source": [
						"obj-304",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-307",
						0
					],
					"source": [
						"obj-305",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-306",
						0
					],
					"source": [
						"obj-307",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-3",
						0
					],
					"source": [
						"obj-306",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-311",
						0
					],
					"source": [
						"obj-310",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-304",
						1
					],
					"source": [
						"obj-311",
						1
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-312",
						0
					],
					"source": [
						"obj-311",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-303",
						0
					],
					"source": [
						"obj-312",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-314",
						0
					],
					"source": [
						"obj-134",
						0
					]
				}
			},
			{
				"patchline": {
					"destination": [
						"obj-310",
						0
					],
					"source": [
						"obj-314",
						0
					]
				}
			}
		],
		"dependency_cache": [],
		"autosave": 0
	}
}
