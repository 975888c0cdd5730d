# SPDX-License-Identifier: GPL-3.0-or-later
"""instyle: localized neural style transfer nodes for Blender's compositor.

Instance Mask, Instance Tracker, Neural Style and MRF Blend call the out-of-process instyle engine;
the engine writes EXR frames into a cache that the nodes' inner trees read.
"""

import bpy

from . import (added_people, analyze, bake, engine_link, engine_ops, graph_setup, node_params, nodes, preferences,
               render_hooks, style_previews, track_styles)

classes = (preferences.InstylePreferences, *track_styles.CLASSES, *added_people.CLASSES, *nodes.NODE_CLASSES,
           nodes.NODE_MT_instyle,
           bake.INSTYLE_OT_bake, analyze.INSTYLE_OT_analyze, graph_setup.INSTYLE_OT_add_chain,
           engine_ops.INSTYLE_OT_free_memory)


def register():
    style_previews.load()
    for cls in nodes.NODE_CLASSES:
        node_params.declare(cls, style_previews.icon_id)
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.NODE_MT_add.append(nodes.add_menu_entry)
    render_hooks.register()


def unregister():
    render_hooks.unregister()
    bpy.types.NODE_MT_add.remove(nodes.add_menu_entry)
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
    style_previews.free()
    engine_link.shutdown()
