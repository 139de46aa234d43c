@file:Suppress("unused", "UNUSED_PARAMETER")

package android.view

import android.content.Context

open class View(context: Context) {
    var isEnabled: Boolean = true
    fun setOnClickListener(listener: ((View) -> Unit)?) {}
}

open class ViewGroup(context: Context) : View(context) {
    fun addView(child: View) {}
}
